#include "cvcuda_zerocopy/pool.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include "cuda_check.hpp"
#include "cvcuda_zerocopy/device.hpp"
#include "cvcuda_zerocopy/flags.hpp"

namespace cvcuda_zerocopy {
namespace {

int floor_log2(std::size_t value) {
    int log = -1;
    while (value != 0) {
        value >>= 1;
        ++log;
    }
    return log;
}

std::string flags_text(unsigned flags) {
    std::string text = "cudaHostAllocMapped";
    if ((flags & kPortable) != 0) text += "|cudaHostAllocPortable";
    if ((flags & kWriteCombined) != 0) text += "|cudaHostAllocWriteCombined";
    return text;
}

/// ``CVCUDA_ZEROCOPY_POOL_MAX_BYTES``: "268435456", "256M", "1G", "512KiB", "0" (no caching). Bad values are
/// reported on stderr and the default is used.
std::size_t max_cached_from_env() {
    const char* value = std::getenv("CVCUDA_ZEROCOPY_POOL_MAX_BYTES");
    if (value == nullptr || *value == '\0') return HostPool::kDefaultMaxCachedBytes;
    char* end = nullptr;
    errno = 0;
    const unsigned long long number = std::strtoull(value, &end, 10);
    std::string suffix(end != nullptr ? end : "");
    for (char& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    int shift = -1;
    if (suffix.empty() || suffix == "B") shift = 0;
    if (suffix == "K" || suffix == "KB" || suffix == "KIB") shift = 10;
    if (suffix == "M" || suffix == "MB" || suffix == "MIB") shift = 20;
    if (suffix == "G" || suffix == "GB" || suffix == "GIB") shift = 30;
    const bool digits = std::isdigit(static_cast<unsigned char>(value[0])) != 0;
    if (!digits || errno == ERANGE || shift < 0 || number > (std::numeric_limits<std::size_t>::max() >> shift)) {
        std::fprintf(stderr,
                     "cvcuda_zerocopy: warning: CVCUDA_ZEROCOPY_POOL_MAX_BYTES=%s is not a byte count like 256M; "
                     "using %zu\n",
                     value, HostPool::kDefaultMaxCachedBytes);
        return HostPool::kDefaultMaxCachedBytes;
    }
    return static_cast<std::size_t>(number) << shift;
}

}  // namespace

HostPool::HostPool(std::size_t max_cached_bytes) { stats_.max_cached_bytes = max_cached_bytes; }

HostPool::~HostPool() {
    trim(0);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!live_.empty()) {
        std::fprintf(stderr,
                     "cvcuda_zerocopy: warning: a HostPool was destroyed with %zu block(s) (%zu bytes) still in "
                     "use; they are leaked, not freed under their owners\n",
                     live_.size(), stats_.bytes_in_use);
    }
}

std::size_t HostPool::size_class(std::size_t bytes) {
    if (bytes <= kPageBytes) return kPageBytes;
    const int log = floor_log2(bytes);
    const std::size_t granule = std::max<std::size_t>(kPageBytes, std::size_t(1) << (log - 2));
    if (bytes > std::numeric_limits<std::size_t>::max() - granule) return bytes;
    return (bytes + granule - 1) / granule * granule;
}

void HostPool::note_held_locked() {
    const std::size_t held = stats_.bytes_in_use + stats_.bytes_cached;
    stats_.peak_bytes_held = std::max(stats_.peak_bytes_held, held);
}

bool HostPool::take_cached_locked(const Key& key, std::size_t bytes, Block* out) {
    auto found = cache_.find(key);
    if (found == cache_.end() || found->second.empty()) return false;
    Block block = found->second.back();
    block.size = bytes;
    live_[reinterpret_cast<std::uintptr_t>(block.ptr)] = block;  // may throw: then nothing has changed
    found->second.pop_back();
    if (found->second.empty()) cache_.erase(found);
    stats_.bytes_cached -= block.capacity;
    stats_.blocks_cached -= 1;
    stats_.hits += 1;
    stats_.bytes_in_use += block.capacity;
    stats_.blocks_in_use += 1;
    *out = block;
    return true;
}

Block HostPool::allocate(std::size_t bytes, unsigned flags, bool use_cache) {
    if ((flags & ~kAllHostFlags) != 0) {
        CV_Error(cv::Error::StsBadFlag,
                 cv::format("HostPool::allocate: flags 0x%x has bits outside kMapped|kPortable|kWriteCombined",
                            flags));
    }
    flags |= kMapped;
    if (bytes == 0) return Block{};
    const int current = ensure_device();
    const int device = (flags & kPortable) != 0 ? -1 : current;
    const std::size_t capacity = use_cache ? size_class(bytes) : bytes;

    if (use_cache) {
        std::lock_guard<std::mutex> lock(mutex_);
        Block block;
        if (take_cached_locked(Key{flags, device, capacity}, bytes, &block)) return block;
    }

    const std::string context =
        cv::format("while allocating %zu bytes (%zu with size-class rounding) of pinned host memory with %s on "
                   "device %d",
                   bytes, capacity, flags_text(flags).c_str(), current);
    void* ptr = nullptr;
    cudaError_t status = cudaHostAlloc(&ptr, capacity, flags);
    if (status == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        if (trim(0) > 0) status = cudaHostAlloc(&ptr, capacity, flags);  // the cache gave pinned memory back
    }
    if (status != cudaSuccess) {
        detail::throw_cuda(status, "cudaHostAlloc(&ptr, capacity, flags)", __FILE__, __LINE__, CV_Func, context);
    }
    void* alias = nullptr;
    const cudaError_t mapped = cudaHostGetDevicePointer(&alias, ptr, 0);
    if (mapped != cudaSuccess) {
        CVZC_CUDA_CHECK_NOTHROW(cudaFreeHost(ptr));
        detail::throw_cuda(mapped, "cudaHostGetDevicePointer(&alias, ptr, 0)", __FILE__, __LINE__, CV_Func,
                           "- the block is pinned but has no device alias; " + context);
    }
    Block block;
    block.ptr = ptr;
    block.size = bytes;
    block.capacity = capacity;
    block.flags = flags;
    block.device = device;
    block.device_ptr = alias;
    block.cached = use_cache;
    try {
        std::lock_guard<std::mutex> lock(mutex_);
        live_[reinterpret_cast<std::uintptr_t>(ptr)] = block;
        stats_.misses += 1;
        stats_.host_allocs += 1;
        stats_.bytes_in_use += capacity;
        stats_.blocks_in_use += 1;
        note_held_locked();
    } catch (...) {
        CVZC_CUDA_CHECK_NOTHROW(cudaFreeHost(ptr));
        throw;
    }
    return block;
}

void HostPool::release(void* ptr) noexcept {
    if (ptr == nullptr) return;
    Block to_free;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto found = live_.find(reinterpret_cast<std::uintptr_t>(ptr));
        if (found == live_.end()) {
            std::fprintf(stderr,
                         "cvcuda_zerocopy: warning: HostPool::release(%p): not a block this pool handed out "
                         "(double free?); ignored\n",
                         ptr);
            return;
        }
        const Block block = found->second;
        live_.erase(found);
        stats_.releases += 1;
        stats_.bytes_in_use -= block.capacity;
        stats_.blocks_in_use -= 1;
        bool cached = false;
        if (block.cached && stats_.bytes_cached + block.capacity <= stats_.max_cached_bytes) {
            try {
                cache_[Key{block.flags, block.device, block.capacity}].push_back(block);
                stats_.bytes_cached += block.capacity;
                stats_.blocks_cached += 1;
                cached = true;
            } catch (...) {
                cached = false;  // no memory for the book-keeping: free the block instead
            }
        }
        if (!cached) {
            stats_.host_frees += 1;
            to_free = block;
        }
    }
    if (to_free.ptr != nullptr) CVZC_CUDA_CHECK_NOTHROW(cudaFreeHost(to_free.ptr));
}

std::vector<Block> HostPool::collect_trim_locked(std::size_t keep_bytes) {
    std::vector<Block> out;
    while (stats_.bytes_cached > keep_bytes && !cache_.empty()) {
        auto last = std::prev(cache_.end());  // the largest capacity of the last flag/device group first
        Block block = last->second.back();
        try {
            out.push_back(block);
        } catch (...) {
            break;
        }
        last->second.pop_back();
        if (last->second.empty()) cache_.erase(last);
        stats_.bytes_cached -= block.capacity;
        stats_.blocks_cached -= 1;
        stats_.host_frees += 1;
    }
    return out;
}

void HostPool::free_blocks(const std::vector<Block>& blocks) noexcept {
    for (const Block& block : blocks) CVZC_CUDA_CHECK_NOTHROW(cudaFreeHost(block.ptr));
}

std::size_t HostPool::trim(std::size_t keep_bytes) noexcept {
    std::vector<Block> blocks;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        blocks = collect_trim_locked(keep_bytes);
    }
    free_blocks(blocks);
    std::size_t freed = 0;
    for (const Block& block : blocks) freed += block.capacity;
    return freed;
}

PoolStats HostPool::stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    PoolStats out = stats_;
    out.bytes_held = stats_.bytes_in_use + stats_.bytes_cached;
    return out;
}

void HostPool::set_max_cached_bytes(std::size_t bytes) noexcept {
    std::vector<Block> blocks;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.max_cached_bytes = bytes;
        blocks = collect_trim_locked(bytes);
    }
    free_blocks(blocks);
}

std::size_t HostPool::max_cached_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_.max_cached_bytes;
}

bool HostPool::find(const void* ptr, Block* out) const {
    const auto address = reinterpret_cast<std::uintptr_t>(ptr);
    std::lock_guard<std::mutex> lock(mutex_);
    auto after = live_.upper_bound(address);
    if (after == live_.begin()) return false;
    const auto& [base, block] = *std::prev(after);
    if (address - base >= std::max<std::size_t>(block.capacity, 1)) return false;
    if (out != nullptr) *out = block;
    return true;
}

HostPool& default_pool() {
    static HostPool* pool = new HostPool(max_cached_from_env());  // never destroyed (see pool.hpp)
    return *pool;
}

}  // namespace cvcuda_zerocopy
