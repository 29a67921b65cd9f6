// A cv::MatAllocator for pinned, GPU-mapped host memory, and an RAII guard that makes it the default.
//
//   cvcuda_zerocopy::setup_device(0);
//   cvcuda_zerocopy::DefaultAllocatorGuard guard;           // every new Mat is mapped from here on
//   cv::Mat frame(1080, 1920, CV_8UC1);                     // cudaHostAlloc(..., Mapped), pooled
//   cv::cuda::GpuMat dev = cvcuda_zerocopy::gpu_view(frame);  // the same bytes, seen by the GPU
//
// What it does that cv::cuda::HostMem::getAllocator(SHARED) does not: a size-class pool (pool.hpp), any
// number of dimensions with the UMatData fields set like OpenCV's own allocators (``handle`` is the device
// alias), user data wrapped and never freed, mapped + write-combined + portable in any combination, and
// thread-safe device set-up on first use.
//
// Rules it follows (a correct cv::MatAllocator):
// * steps for every dimension: ``total = CV_ELEM_SIZE(type)``, then for i = dims-1 .. 0: with user data and a
//   given ``step[i]``, ``total <= step[i]`` is checked and ``step[i]`` used, else ``step[i] = total``; then
//   ``total *= sizes[i]`` (overflow checked);
// * rows are tight by default (``kTightRows``), because OpenCV promises that Mat::create makes continuous
//   arrays and relies on it inside its own functions (cuda::createGaussianFilter reshapes its kernel Mat:
//   "The matrix is not continuous" when the default allocator padded it). An allocator made with
//   ``kDeviceRowAlignment`` (or a power of two) rounds the row step (``step[dims-2]``) of what it allocates
//   up to the device's texturePitchAlignment (32 bytes), as cv::cuda::HostMem(SHARED) pads to
//   textureAlignment: use it per Mat (``m.allocator = ...``, or ``texture_mat``) for images that a CUDA
//   function reads through a texture (cuda::Canny, remap, ...): such a function refuses a GpuMat whose step is
//   not a multiple ("invalid argument in createTextureObject"), so an unpadded 641-pixel-wide 8-bit Mat can
//   be blurred but not edge-detected. Rows that already are a multiple (640 x 8UC1) stay continuous, others
//   do not (``isContinuous()`` false, like a GpuMat);
// * every UMatData it returns is created here with ``currAllocator == this``, so Mat::deallocate always
//   reaches ``deallocate`` below (a wrapper that returns another allocator's UMatData never sees its frees:
//   OpenCV issue #25179);
// * ``deallocate`` frees only what it allocated (back to the pool), deletes the UMatData, never throws and
//   never touches the reference counts (Mat does, atomically);
// * allocator objects are created once and never destroyed (``mapped_allocator``).
//
// When a per-Mat custom allocator throws, Mat::create silently falls back to the default allocator; when this
// allocator *is* the default, the error propagates. Prove mapping with ``is_mapped``/``pointer_attributes``.
#pragma once

#include <opencv2/core.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>

#include "cvcuda_zerocopy/flags.hpp"
#include "cvcuda_zerocopy/pool.hpp"

namespace cvcuda_zerocopy {

/// The "no step given" marker OpenCV's Mat code passes to MatAllocator::allocate: CV_AUTOSTEP (0x7fffffff).
/// OpenCV 5 defines it in cvdef.h, OpenCV 4 only in the C API header core_c.h, so it is spelled out here for
/// both lines (Mat::AUTO_STEP is 0, the constructors' default argument, which is something else).
inline constexpr std::size_t kAutoStep = 0x7fffffff;

/// Row alignment: none; every Mat allocated is continuous (the default: OpenCV relies on it).
inline constexpr std::size_t kTightRows = 1;
/// Row alignment: the current device's texturePitchAlignment (DeviceSetup::texture_pitch_alignment).
inline constexpr std::size_t kDeviceRowAlignment = 0;

class MappedAllocator final : public cv::MatAllocator {
public:
    /// ``flags``: kMapped is always added; kPortable and kWriteCombined are optional. ``pooled`` false: every
    /// allocation is a cudaHostAlloc and every release a cudaFreeHost (still counted in the pool's stats).
    /// ``pool`` null: the default pool; the allocator shares ownership of the pool, so a pool outlives every
    /// allocator over it. ``row_alignment``: kTightRows, kDeviceRowAlignment or a power of two (bytes) that
    /// row steps are rounded up to. The allocator must outlive every Mat it allocates (those from
    /// ``mapped_allocator`` are never destroyed).
    ///
    /// Each UMatData it returns carries the block's device alias in ``handle`` and the device it is valid on
    /// (plus one) in ``allocatorFlags_``: ``device_pointer``/``gpu_view`` read them without the pool's lock.
    explicit MappedAllocator(unsigned flags = kMapped, bool pooled = true, std::shared_ptr<HostPool> pool = nullptr,
                             std::size_t row_alignment = kTightRows);

    cv::UMatData* allocate(int dims, const int* sizes, int type, void* data, size_t* step, cv::AccessFlag flags,
                           cv::UMatUsageFlags usage) const override;
    bool allocate(cv::UMatData* u, cv::AccessFlag flags, cv::UMatUsageFlags usage) const override;
    void deallocate(cv::UMatData* u) const noexcept override;

    unsigned flags() const noexcept { return flags_; }
    bool pooled() const noexcept { return pooled_; }
    HostPool& pool() const noexcept { return *pool_; }
    const std::shared_ptr<HostPool>& shared_pool() const noexcept { return pool_; }
    /// As constructed (kDeviceRowAlignment is 0).
    std::size_t row_alignment() const noexcept { return row_alignment_; }
    /// The alignment in bytes an allocation now gets: for kDeviceRowAlignment the current device's
    /// texturePitchAlignment (sets the device up on first use; throws like ``ensure_device``). Cached per
    /// device after the first call: later allocations take no set-up lock.
    std::size_t effective_row_alignment() const;

private:
    static constexpr int kMaxCachedDevices = 64;

    unsigned flags_;
    bool pooled_;
    std::shared_ptr<HostPool> pool_;
    std::size_t row_alignment_;
    /// texturePitchAlignment per device (0: not known yet).
    mutable std::array<std::atomic<std::size_t>, kMaxCachedDevices> alignment_cache_{};
};

/// The process-lifetime allocator for ``flags`` (kMapped added), ``pooled`` and ``row_alignment`` over the
/// default pool: one instance per combination, created on first use under a lock and never destroyed. Throws
/// cv::Exception for flags outside kAllHostFlags or a row alignment that is not a power of two.
MappedAllocator* mapped_allocator(unsigned flags = kMapped, bool pooled = true,
                                  std::size_t row_alignment = kTightRows);

/// A mapped, pooled ``rows`` x ``cols`` Mat whose row step is a multiple of the device's texture pitch
/// alignment, ready for a GpuMat view that CUDA reads through a texture (cuda::Canny's input); its allocator
/// stays set, so a later ``create`` on it pads too. Throws like ``ensure_device`` and the pool.
cv::Mat texture_mat(int rows, int cols, int type);

/// True when ``m``'s memory was allocated by a MappedAllocator (not user data, not another allocator).
bool allocated_by_plugin(const cv::Mat& m) noexcept;

/// Installs ``allocator`` as ``cv::Mat``'s default allocator and restores the previous one when it ends.
/// ``Mat::setDefaultAllocator`` is process-wide and unsynchronised in OpenCV: create the guard before other
/// threads create Mats, and end guards in reverse order.
class DefaultAllocatorGuard {
public:
    explicit DefaultAllocatorGuard(cv::MatAllocator* allocator = mapped_allocator());
    ~DefaultAllocatorGuard();
    DefaultAllocatorGuard(const DefaultAllocatorGuard&) = delete;
    DefaultAllocatorGuard& operator=(const DefaultAllocatorGuard&) = delete;
    DefaultAllocatorGuard(DefaultAllocatorGuard&&) = delete;
    DefaultAllocatorGuard& operator=(DefaultAllocatorGuard&&) = delete;

    cv::MatAllocator* previous() const noexcept { return previous_; }
    cv::MatAllocator* installed() const noexcept { return installed_; }

private:
    cv::MatAllocator* previous_;
    cv::MatAllocator* installed_;
};

namespace detail {

/// The step layout rule above. Fills ``step[0..dims)`` (when ``step`` is not null) and returns the total byte
/// count. ``data`` not null means user memory: a given step (not ``kAutoStep``, i.e. CV_AUTOSTEP) is checked, not replaced.
/// Without user data and with ``dims >= 2``, the row step ``step[dims-2]`` is rounded up to a multiple of
/// ``row_alignment`` (a power of two; 1 is tight). Throws cv::Exception for bad dims, negative sizes, a step
/// too small for the dimension below it, a row alignment that is not a power of two, or a size that
/// overflows size_t.
std::size_t compute_layout(int dims, const int* sizes, int type, const void* data, size_t* step,
                           std::size_t row_alignment = 1);

/// Throws cv::Exception unless ``alignment`` is a power of two (1 included).
void check_row_alignment(std::size_t alignment);

}  // namespace detail

}  // namespace cvcuda_zerocopy
