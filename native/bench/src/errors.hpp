// The benchmark's own error kinds (no CUDA needed): main() maps them to exit codes 2 and 3. A failed CUDA
// call is a bench::CudaError (bench_cuda.hpp), exit code 1.
#pragma once

#include <stdexcept>

namespace bench {

/// A usage problem (bad argument): exit code 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// No CUDA device (or none usable): exit code 3.
class NoDeviceError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace bench
