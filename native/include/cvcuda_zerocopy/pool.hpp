// A size-class pool of pinned, mapped host blocks (cudaHostAlloc), so per-frame buffers stop paying
// cudaHostAlloc / cudaFreeHost (each costs tens of microseconds to milliseconds: the pages are pinned and
// mapped into every device's page tables).
//
// Contract:
// * ``allocate(bytes, flags)`` hands out a block of at least ``bytes`` bytes, page aligned, allocated with
//   ``flags`` (kMapped always; kPortable, kWriteCombined optional). With ``use_cache`` the size is rounded up
//   to a size class (whole 4 KiB pages; from 16 KiB up 4 classes per power of two, so at most 25 % slack) and a cached
//   block of that class, flags and device is reused when there is one (a hit); otherwise cudaHostAlloc runs
//   (a miss). Zero bytes gives a null block and calls nothing.
// * ``release(ptr)`` takes a block back: into the cache while the cache stays under ``max_cached_bytes``,
//   else straight to cudaFreeHost. Never throws; an unknown pointer is reported on stderr and left alone.
// * Stream-ordered reuse (as PyTorch's CachingHostAllocator): a released block is not handed out again
//   until the GPU work that may still use it has completed. ``release(ptr)`` records a CUDA event on the
//   legacy default stream (cudaStreamLegacy), which is ordered after all earlier work on the legacy stream
//   and on every *blocking* stream (cudaStreamCreate, cv::cuda::Stream, the per-thread default stream); the
//   block waits on a "pending" list until that event (and every event ``record_use`` recorded) is done:
//   each allocation polls the list with cudaEventQuery, ``synchronize_pending()`` waits for all of it.
//   Work on a **non-blocking** stream (cudaStreamNonBlocking) is not ordered with the legacy stream: tell
//   the pool with ``record_use(ptr, stream)`` after enqueuing it (gpu_view(m, stream) does it when the view
//   ends) or release with ``release(ptr, stream)``. When no event can be recorded (no device, runtime
//   unloading) the block is freed with cudaFreeHost, which synchronises the device: never reused early.
// * ``trim(keep)`` frees cached blocks until at most ``keep`` bytes stay cached.
// * Thread safe: one mutex guards the book-keeping; cudaHostAlloc and cudaFreeHost run outside it. A block
//   may be released on another thread than the one that allocated it.
// * Blocks without kPortable are cached per device (the device that was current when they were allocated),
//   so a block mapped in one device's context is never handed out to another device's work.
// * The default pool (``default_pool()``) lives until the process exits and is never destroyed, so Mats
//   destroyed during static destruction can still return their memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "cvcuda_zerocopy/stream.hpp"

namespace cvcuda_zerocopy {

/// One pinned host block as the pool hands it out.
struct Block {
    void* ptr = nullptr;
    /// Bytes asked for.
    std::size_t size = 0;
    /// Bytes really allocated (the size class; equal to ``size`` for uncached blocks).
    std::size_t capacity = 0;
    unsigned flags = 0;
    /// The device current at allocation (-1 for kPortable blocks, which every device may use).
    int device = -1;
    /// The device alias (cudaHostGetDevicePointer at allocation) when the block is mapped.
    void* device_ptr = nullptr;
    /// Returned to the cache on release (false: freed with cudaFreeHost at once).
    bool cached = true;
};

/// A snapshot of the pool's counters.
struct PoolStats {
    /// Pinned bytes the pool owns now (in use + cached).
    std::size_t bytes_held = 0;
    /// Bytes (block capacities) handed out and not yet released.
    std::size_t bytes_in_use = 0;
    /// Bytes idle in the cache, ready for reuse.
    std::size_t bytes_cached = 0;
    std::size_t blocks_in_use = 0;
    std::size_t blocks_cached = 0;
    /// Bytes / blocks released while GPU work recorded on them may still run (not reusable yet).
    std::size_t bytes_pending = 0;
    std::size_t blocks_pending = 0;
    /// The most ``bytes_held`` has ever been.
    std::size_t peak_bytes_held = 0;
    /// The cache bound: releases beyond it go straight to cudaFreeHost.
    std::size_t max_cached_bytes = 0;
    /// Allocations served from the cache.
    std::uint64_t hits = 0;
    /// Allocations that needed a cudaHostAlloc (uncached ones included).
    std::uint64_t misses = 0;
    std::uint64_t releases = 0;
    /// cudaHostAlloc / cudaFreeHost calls the pool made.
    std::uint64_t host_allocs = 0;
    std::uint64_t host_frees = 0;
};

class HostPool {
public:
    /// Default bound on cached (idle) bytes: 256 MiB, or ``CVCUDA_ZEROCOPY_POOL_MAX_BYTES`` for the default
    /// pool when set (a byte count, suffixes K/M/G accepted).
    static constexpr std::size_t kDefaultMaxCachedBytes = std::size_t(256) << 20;
    static constexpr std::size_t kPageBytes = 4096;
    /// How long an allocation spins on a just-released block's events before it pays a cudaHostAlloc.
    static constexpr int kReuseSpinMicros = 50;

    explicit HostPool(std::size_t max_cached_bytes = kDefaultMaxCachedBytes);
    /// Frees every cached block; blocks still in use are reported on stderr and leaked (freeing them would
    /// leave Mats pointing at freed memory).
    ~HostPool();
    HostPool(const HostPool&) = delete;
    HostPool& operator=(const HostPool&) = delete;
    HostPool(HostPool&&) = delete;
    HostPool& operator=(HostPool&&) = delete;

    /// A block of at least ``bytes`` bytes. ``flags``: kMapped (always added), kPortable, kWriteCombined.
    /// Sets up the current device on first use (see device.hpp). Throws CudaError (naming the byte count)
    /// when cudaHostAlloc fails even after the cache was trimmed, or cv::Exception for bad flags.
    Block allocate(std::size_t bytes, unsigned flags, bool use_cache = true);

    /// Takes back a block ``allocate`` returned (its ``ptr``), reusable once the legacy default stream has
    /// passed this point (an event recorded on cudaStreamLegacy) and every ``record_use`` event is done.
    /// Never throws.
    void release(void* ptr) noexcept;

    /// The same, with the release point recorded on ``stream`` (work on it enqueued so far may use the block).
    void release(void* ptr, Stream stream) noexcept;

    /// Records that work enqueued on ``stream`` so far may use the live block containing ``ptr``: the block
    /// is not reused after its release until that work is done. Throws CudaError when the event cannot be
    /// recorded; an address outside every live block is refused with cv::Exception (StsBadArg).
    void record_use(const void* ptr, Stream stream);

    /// Waits for every pending block's events and moves them to the cache. Throws CudaError.
    void synchronize_pending();

    /// Frees cached blocks until at most ``keep_bytes`` stay cached; returns the bytes freed. Never throws.
    std::size_t trim(std::size_t keep_bytes = 0) noexcept;

    PoolStats stats() const;

    /// Changes the cache bound; trims down to it at once.
    void set_max_cached_bytes(std::size_t bytes) noexcept;
    std::size_t max_cached_bytes() const;

    /// The live (handed-out) block containing ``ptr`` (any address inside it), if there is one.
    bool find(const void* ptr, Block* out) const;

    /// The size class ``bytes`` is rounded up to: whole pages, and from 16 KiB up 4 classes per power of two.
    static std::size_t size_class(std::size_t bytes);

private:
    using Key = std::tuple<unsigned, int, std::size_t>;  // flags, device, capacity

    bool take_cached_locked(const Key& key, std::size_t bytes, Block* out);
    std::vector<Block> collect_trim_locked(std::size_t keep_bytes);
    void note_held_locked();
    static void free_blocks(const std::vector<Block>& blocks) noexcept;
    /// Moves every pending block whose events are all done into the cache (cudaEventQuery; never blocks).
    void poll_pending_locked() noexcept;
    Event take_event_locked();
    void cache_locked(const Block& block);

    struct Pending {
        Block block;
        std::vector<Event> events;
    };

    mutable std::mutex mutex_;
    std::map<std::uintptr_t, Block> live_;
    /// Events recorded by record_use on live blocks (by base address).
    std::map<std::uintptr_t, std::vector<Event>> uses_;
    std::vector<Pending> pending_;
    std::map<Key, std::vector<Block>> cache_;
    /// Completed events kept for reuse (cudaEventCreate is not free).
    std::vector<Event> free_events_;
    PoolStats stats_;
};

/// The process-wide pool the default allocators and the Python module share; never destroyed.
HostPool& default_pool();

/// The same pool as a shared_ptr (whose count never drops to zero), for owners that take a shared_ptr.
std::shared_ptr<HostPool> default_pool_ptr();

}  // namespace cvcuda_zerocopy
