// Host allocation flags, the same bit values as CUDA's cudaHostAlloc* / cudaHostRegister* flags (checked
// with static_assert where the CUDA headers are included), so callers need no CUDA header.
#pragma once

namespace cvcuda_zerocopy {

/// ``cudaHostAllocPortable``: pinned (and, with kMapped, mapped) for every CUDA context, not just the current
/// device's. Needed for non-UVA multi-GPU use; on 64-bit Linux (unified addressing) memory is portable anyway.
constexpr unsigned kPortable = 0x01u;
/// ``cudaHostAllocMapped``: mapped into the device address space (``cudaHostGetDevicePointer`` gives the
/// alias). Always set by the mapped allocator.
constexpr unsigned kMapped = 0x02u;
/// ``cudaHostAllocWriteCombined``: write-combined memory, fast for the GPU to read over PCIe and for the CPU
/// to write sequentially, very slow for the CPU to read. Use for input frames the CPU only writes.
constexpr unsigned kWriteCombined = 0x04u;

/// Every flag this library accepts.
constexpr unsigned kAllHostFlags = kPortable | kMapped | kWriteCombined;

}  // namespace cvcuda_zerocopy
