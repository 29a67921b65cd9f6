// CUDA stream and event handles in the public headers without the CUDA headers (the library links the
// runtime privately): the same types as cudaStream_t and cudaEvent_t, so either converts without a cast.
#pragma once

struct CUstream_st;
struct CUevent_st;

namespace cvcuda_zerocopy {

/// cudaStream_t (nullptr: the default stream, as in CUDA).
using Stream = CUstream_st*;
/// cudaEvent_t.
using Event = CUevent_st*;

}  // namespace cvcuda_zerocopy
