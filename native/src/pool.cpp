#include "cvcuda_zerocopy/pool.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <limits>
#include <stdexcept>
#include <type_traits>
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
    for (cudaEvent_t event : free_events_) CVZC_CUDA_CHECK_NOTHROW(cudaEventDestroy(event));
    free_events_.clear();
    for (auto& [base, events] : uses_) {
        for (cudaEvent_t event : events) CVZC_CUDA_CHECK_NOTHROW(cudaEventDestroy(event));
    }
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
    const std::size_t held = stats_.bytes_in_use + stats_.bytes_cached + stats_.bytes_pending;
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
        const Key key{flags, device, capacity};
        std::vector<cudaEvent_t> wait_for;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            poll_pending_locked();
            Block block;
            if (take_cached_locked(key, bytes, &block)) return block;
            for (const Pending& entry : pending_) {  // a block of this class released moments ago?
                if (Key{entry.block.flags, entry.block.device, entry.block.capacity} == key) {
                    wait_for = entry.events;  // may throw bad_alloc: then there is nothing to wait for
                    break;
                }
            }
        }
        // An idle GPU passes a just-recorded event within microseconds: spin briefly (events are never
        // destroyed while the pool lives, so querying them without the lock is safe) instead of paying a
        // cudaHostAlloc; a busy GPU (a kernel still using the block) is not waited for.
        if (!wait_for.empty()) {
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(kReuseSpinMicros);
            bool done = false;
            while (!done && std::chrono::steady_clock::now() < deadline) {
                done = true;
                for (cudaEvent_t event : wait_for) done = done && cudaEventQuery(event) == cudaSuccess;
            }
            (void)cudaGetLastError();
            if (done) {
                std::lock_guard<std::mutex> lock(mutex_);
                poll_pending_locked();
                Block block;
                if (take_cached_locked(key, bytes, &block)) return block;
            }
        }
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

cudaEvent_t HostPool::take_event_locked() {
    if (!free_events_.empty()) {
        cudaEvent_t event = free_events_.back();
        free_events_.pop_back();
        return event;
    }
    cudaEvent_t event = nullptr;
    CVZC_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    return event;
}

void HostPool::cache_locked(const Block& block) {
    cache_[Key{block.flags, block.device, block.capacity}].push_back(block);  // may throw
    stats_.bytes_cached += block.capacity;
    stats_.blocks_cached += 1;
}

void HostPool::poll_pending_locked() noexcept {
    for (std::size_t i = 0; i < pending_.size();) {
        Pending& entry = pending_[i];
        bool done = true;
        for (cudaEvent_t event : entry.events) {
            const cudaError_t state = cudaEventQuery(event);
            if (state == cudaErrorNotReady) {
                done = false;
                break;
            }
            if (state != cudaSuccess) {  // a failed context: the block stays pending (trim frees it)
                (void)cudaGetLastError();
                done = false;
                break;
            }
        }
        if (!done) {
            ++i;
            continue;
        }
        try {
            cache_locked(entry.block);
        } catch (...) {
            return;  // no memory for the book-keeping: leave it pending
        }
        stats_.bytes_pending -= entry.block.capacity;
        stats_.blocks_pending -= 1;
        for (cudaEvent_t event : entry.events) {
            try {
                free_events_.push_back(event);
            } catch (...) {
                CVZC_CUDA_CHECK_NOTHROW(cudaEventDestroy(event));
            }
        }
        entry = std::move(pending_.back());
        pending_.pop_back();
    }
}

void HostPool::record_use(const void* ptr, cudaStream_t stream) {
    const auto address = reinterpret_cast<std::uintptr_t>(ptr);
    std::lock_guard<std::mutex> lock(mutex_);
    auto after = live_.upper_bound(address);
    bool inside = after != live_.begin();
    if (inside) {
        const auto& [base, block] = *std::prev(after);
        inside = address - base < std::max<std::size_t>(block.capacity, 1);
    }
    if (!inside) {
        CV_Error(cv::Error::StsBadArg,
                 cv::format("HostPool::record_use(%p): not inside a live block of this pool", ptr));
    }
    const std::uintptr_t base = std::prev(after)->first;
    cudaEvent_t event = take_event_locked();
    const cudaError_t status = cudaEventRecord(event, stream);
    if (status != cudaSuccess) {
        free_events_.push_back(event);
        detail::throw_cuda(status, "cudaEventRecord(event, stream)", __FILE__, __LINE__, CV_Func,
                           cv::format("while recording a use of the pool block at %p", ptr));
    }
    try {
        uses_[base].push_back(event);
    } catch (...) {
        CVZC_CUDA_CHECK_NOTHROW(cudaEventSynchronize(event));  // cannot track it: wait for the work instead
        CVZC_CUDA_CHECK_NOTHROW(cudaEventDestroy(event));
        throw;
    }
}

static_assert(std::is_same<Stream, cudaStream_t>::value, "Stream must be cudaStream_t");
static_assert(std::is_same<Event, cudaEvent_t>::value, "Event must be cudaEvent_t");

void HostPool::release(void* ptr) noexcept { release(ptr, cudaStreamLegacy); }

void HostPool::release(void* ptr, cudaStream_t stream) noexcept {
    if (ptr == nullptr) return;
    Block to_free;
    std::vector<cudaEvent_t> events;
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
        auto uses = uses_.find(reinterpret_cast<std::uintptr_t>(ptr));
        if (uses != uses_.end()) {
            events = std::move(uses->second);
            uses_.erase(uses);
        }
        stats_.releases += 1;
        stats_.bytes_in_use -= block.capacity;
        stats_.blocks_in_use -= 1;
        bool kept = false;
        if (block.cached &&
            stats_.bytes_cached + stats_.bytes_pending + block.capacity <= stats_.max_cached_bytes) {
            try {
                cudaEvent_t release_point = take_event_locked();
                events.push_back(release_point);  // reserve first: push_back may throw
                const cudaError_t status = cudaEventRecord(release_point, stream);
                if (status != cudaSuccess) {
                    (void)cudaGetLastError();
                    throw std::runtime_error("cudaEventRecord failed");
                }
                pending_.push_back(Pending{block, events});
                stats_.bytes_pending += block.capacity;
                stats_.blocks_pending += 1;
                kept = true;
                events.clear();  // now owned by the pending entry
            } catch (...) {
                kept = false;  // no event or no book-keeping memory: free the block (cudaFreeHost syncs)
            }
        }
        if (!kept) {
            stats_.host_frees += 1;
            to_free = block;
        }
    }
    for (cudaEvent_t event : events) CVZC_CUDA_CHECK_NOTHROW(cudaEventDestroy(event));
    if (to_free.ptr != nullptr) CVZC_CUDA_CHECK_NOTHROW(cudaFreeHost(to_free.ptr));
}

void HostPool::synchronize_pending() {
    std::vector<cudaEvent_t> events;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const Pending& entry : pending_) events.insert(events.end(), entry.events.begin(), entry.events.end());
    }
    // Events are only destroyed or re-recorded under the lock by poll/release; a re-recorded event is newer
    // work, so waiting on it too is merely conservative.
    for (cudaEvent_t event : events) CVZC_CUDA_CHECK(cudaEventSynchronize(event));
    std::lock_guard<std::mutex> lock(mutex_);
    poll_pending_locked();
}

std::vector<Block> HostPool::collect_trim_locked(std::size_t keep_bytes) {
    std::vector<Block> out;
    poll_pending_locked();
    // Pending blocks go first when trimming to zero: cudaFreeHost synchronises the device, so freeing a block
    // the GPU may still use is safe (only handing it out again is not).
    while (keep_bytes == 0 && !pending_.empty()) {
        Pending entry = std::move(pending_.back());
        try {
            out.push_back(entry.block);
        } catch (...) {
            pending_.back() = std::move(entry);
            break;
        }
        pending_.pop_back();
        stats_.bytes_pending -= entry.block.capacity;
        stats_.blocks_pending -= 1;
        stats_.host_frees += 1;
        for (cudaEvent_t event : entry.events) {
            try {
                free_events_.push_back(event);  // kept, not destroyed: allocate may query it without the lock
            } catch (...) {
                CVZC_CUDA_CHECK_NOTHROW(cudaEventSynchronize(event));
                CVZC_CUDA_CHECK_NOTHROW(cudaEventDestroy(event));
            }
        }
    }
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
    out.bytes_held = stats_.bytes_in_use + stats_.bytes_cached + stats_.bytes_pending;
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

std::shared_ptr<HostPool> default_pool_ptr() {
    // never destroyed (see pool.hpp): this shared_ptr is leaked, so its count never reaches zero
    static auto* pool = new std::shared_ptr<HostPool>(std::make_shared<HostPool>(max_cached_from_env()));
    return *pool;
}

HostPool& default_pool() {
    static HostPool* pool = default_pool_ptr().get();
    return *pool;
}

}  // namespace cvcuda_zerocopy
