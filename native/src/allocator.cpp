#include "cvcuda_zerocopy/allocator.hpp"

#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "cvcuda_zerocopy/device.hpp"
#include "cvcuda_zerocopy/flags.hpp"

namespace cvcuda_zerocopy {

#ifdef CV_AUTOSTEP
static_assert(kAutoStep == CV_AUTOSTEP, "kAutoStep must equal OpenCV's CV_AUTOSTEP");
#endif

namespace detail {

void check_row_alignment(std::size_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        CV_Error(cv::Error::StsBadArg,
                 cv::format("row alignment %zu is not a power of two (use 1 for tight rows)", alignment));
    }
}

std::size_t compute_layout(int dims, const int* sizes, int type, const void* data, size_t* step,
                           std::size_t row_alignment) {
    if (dims < 0 || dims > CV_MAX_DIM) {
        CV_Error(cv::Error::StsOutOfRange, cv::format("dims = %d is outside 0..%d", dims, CV_MAX_DIM));
    }
    if (dims > 0 && sizes == nullptr) CV_Error(cv::Error::StsNullPtr, "sizes is null");
    check_row_alignment(row_alignment);
    std::size_t total = CV_ELEM_SIZE(type);
    for (int i = dims - 1; i >= 0; --i) {
        if (sizes[i] < 0) {
            CV_Error(cv::Error::StsOutOfRange, cv::format("sizes[%d] = %d is negative", i, sizes[i]));
        }
        if (data == nullptr && i == dims - 2 && row_alignment > 1) {
            // total is one row's bytes here (at most INT_MAX * CV_ELEM_SIZE, so rounding up cannot overflow)
            total = (total + row_alignment - 1) & ~(row_alignment - 1);
        }
        if (step != nullptr) {
            if (data != nullptr && step[i] != kAutoStep) {
                if (step[i] < total) {
                    CV_Error(cv::Error::StsBadArg,
                             cv::format("step[%d] = %zu bytes is smaller than one entry of dimension %d needs "
                                        "(%zu bytes)",
                                        i, step[i], i, total));
                }
                total = step[i];
            } else {
                step[i] = total;
            }
        }
        const auto n = static_cast<std::size_t>(sizes[i]);
        if (n != 0 && total > std::numeric_limits<std::size_t>::max() / n) {
            CV_Error(cv::Error::StsNoMem, cv::format("the size of dimension %d overflows size_t", i));
        }
        total *= n;
    }
    return total;
}

}  // namespace detail

MappedAllocator::MappedAllocator(unsigned flags, bool pooled, std::shared_ptr<HostPool> pool,
                                 std::size_t row_alignment)
    : flags_(flags | kMapped),
      pooled_(pooled),
      pool_(pool != nullptr ? std::move(pool) : default_pool_ptr()),
      row_alignment_(row_alignment) {
    if ((flags & ~kAllHostFlags) != 0) {
        CV_Error(cv::Error::StsBadFlag,
                 cv::format("MappedAllocator: flags 0x%x has bits outside kMapped|kPortable|kWriteCombined", flags));
    }
    if (row_alignment != kDeviceRowAlignment) detail::check_row_alignment(row_alignment);
}

std::size_t MappedAllocator::effective_row_alignment() const {
    if (row_alignment_ != kDeviceRowAlignment) return row_alignment_;
    const int device = ensure_device();
    const bool cacheable = device >= 0 && device < kMaxCachedDevices;
    if (cacheable) {
        const std::size_t known = alignment_cache_[static_cast<std::size_t>(device)].load(std::memory_order_acquire);
        if (known != 0) return known;
    }
    const std::size_t device_alignment = setup_device(device).texture_pitch_alignment;
    const std::size_t alignment = device_alignment > 0 ? device_alignment : kTightRows;
    if (cacheable) alignment_cache_[static_cast<std::size_t>(device)].store(alignment, std::memory_order_release);
    return alignment;
}

cv::UMatData* MappedAllocator::allocate(int dims, const int* sizes, int type, void* data, size_t* step,
                                        cv::AccessFlag /*flags*/, cv::UMatUsageFlags /*usage*/) const {
    const std::size_t alignment = (data == nullptr && dims >= 2) ? effective_row_alignment() : kTightRows;
    const std::size_t total = detail::compute_layout(dims, sizes, type, data, step, alignment);
    if (data != nullptr) {
        auto* u = new cv::UMatData(this);
        u->data = u->origdata = static_cast<uchar*>(data);
        u->size = total;
        u->flags |= cv::UMatData::USER_ALLOCATED;  // the caller's memory: never freed here
        return u;
    }
    const Block block = pool_->allocate(total, flags_, pooled_);
    cv::UMatData* u = nullptr;
    try {
        u = new cv::UMatData(this);
    } catch (...) {
        pool_->release(block.ptr);
        throw;
    }
    u->data = u->origdata = static_cast<uchar*>(block.ptr);
    u->size = total;
    u->handle = block.device_ptr;  // the device alias of origdata, on the device current at allocation
    u->allocatorFlags_ = ensure_device() + 1;  // that device, plus one (0: no alias recorded)
    return u;
}

bool MappedAllocator::allocate(cv::UMatData* u, cv::AccessFlag /*flags*/, cv::UMatUsageFlags /*usage*/) const {
    return u != nullptr;
}

void MappedAllocator::deallocate(cv::UMatData* u) const noexcept {
    if (u == nullptr) return;
    if (u->refcount != 0 || u->urefcount != 0) {
        // OpenCV only calls this with both counts at zero; anything else is a caller bug. Leak, don't crash.
        std::fprintf(stderr,
                     "cvcuda_zerocopy: warning: deallocate(%p) with refcount %d, urefcount %d; not freed\n",
                     static_cast<void*>(u), u->refcount, u->urefcount);
        return;
    }
    if (!(u->flags & cv::UMatData::USER_ALLOCATED) && u->origdata != nullptr) pool_->release(u->origdata);
    u->origdata = nullptr;
    u->data = nullptr;
    u->handle = nullptr;
    delete u;
}

MappedAllocator* mapped_allocator(unsigned flags, bool pooled, std::size_t row_alignment) {
    if ((flags & ~kAllHostFlags) != 0) {
        CV_Error(cv::Error::StsBadFlag,
                 cv::format("mapped_allocator: flags 0x%x has bits outside kMapped|kPortable|kWriteCombined", flags));
    }
    if (row_alignment != kDeviceRowAlignment) detail::check_row_alignment(row_alignment);
    static std::mutex* mutex = new std::mutex;
    static auto* instances = new std::map<std::tuple<unsigned, bool, std::size_t>, MappedAllocator*>;
    const auto key = std::make_tuple(flags | kMapped, pooled, row_alignment);
    std::lock_guard<std::mutex> lock(*mutex);
    auto found = instances->find(key);
    if (found != instances->end()) return found->second;
    // never destroyed: Mats may outlive main()
    auto* allocator = new MappedAllocator(flags | kMapped, pooled, nullptr, row_alignment);
    instances->emplace(key, allocator);
    return allocator;
}

cv::Mat texture_mat(int rows, int cols, int type) {
    MappedAllocator* allocator = mapped_allocator(kMapped, true, kDeviceRowAlignment);
    (void)allocator->effective_row_alignment();  // device errors surface here, not swallowed by Mat::create
    cv::Mat m;
    m.allocator = allocator;
    m.create(rows, cols, type);
    if (m.u == nullptr || m.u->currAllocator != allocator) {  // Mat::create fell back to the default allocator
        CV_Error(cv::Error::StsNoMem,
                 cv::format("texture_mat: the mapped allocator failed for %d x %d (type %d) and OpenCV fell back "
                            "to its default allocator",
                            rows, cols, type));
    }
    return m;
}

bool allocated_by_plugin(const cv::Mat& m) noexcept {
    if (m.u == nullptr || (m.u->flags & cv::UMatData::USER_ALLOCATED)) return false;
    return dynamic_cast<const MappedAllocator*>(m.u->currAllocator) != nullptr;
}

DefaultAllocatorGuard::DefaultAllocatorGuard(cv::MatAllocator* allocator)
    : previous_(cv::Mat::getDefaultAllocator()), installed_(allocator) {
    if (allocator == nullptr) CV_Error(cv::Error::StsNullPtr, "DefaultAllocatorGuard: null allocator");
    cv::Mat::setDefaultAllocator(allocator);
}

DefaultAllocatorGuard::~DefaultAllocatorGuard() { cv::Mat::setDefaultAllocator(previous_); }

}  // namespace cvcuda_zerocopy
