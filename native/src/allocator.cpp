#include "cvcuda_zerocopy/allocator.hpp"

#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <utility>

#include "cvcuda_zerocopy/flags.hpp"

namespace cvcuda_zerocopy {

namespace detail {

std::size_t compute_layout(int dims, const int* sizes, int type, const void* data, size_t* step) {
    if (dims < 0 || dims > CV_MAX_DIM) {
        CV_Error(cv::Error::StsOutOfRange, cv::format("dims = %d is outside 0..%d", dims, CV_MAX_DIM));
    }
    if (dims > 0 && sizes == nullptr) CV_Error(cv::Error::StsNullPtr, "sizes is null");
    std::size_t total = CV_ELEM_SIZE(type);
    for (int i = dims - 1; i >= 0; --i) {
        if (sizes[i] < 0) {
            CV_Error(cv::Error::StsOutOfRange, cv::format("sizes[%d] = %d is negative", i, sizes[i]));
        }
        if (step != nullptr) {
            if (data != nullptr && step[i] != CV_AUTOSTEP) {
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

MappedAllocator::MappedAllocator(unsigned flags, bool pooled, HostPool* pool)
    : flags_(flags | kMapped), pooled_(pooled), pool_(pool != nullptr ? pool : &default_pool()) {
    if ((flags & ~kAllHostFlags) != 0) {
        CV_Error(cv::Error::StsBadFlag,
                 cv::format("MappedAllocator: flags 0x%x has bits outside kMapped|kPortable|kWriteCombined", flags));
    }
}

cv::UMatData* MappedAllocator::allocate(int dims, const int* sizes, int type, void* data, size_t* step,
                                        cv::AccessFlag /*flags*/, cv::UMatUsageFlags /*usage*/) const {
    const std::size_t total = detail::compute_layout(dims, sizes, type, data, step);
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

MappedAllocator* mapped_allocator(unsigned flags, bool pooled) {
    if ((flags & ~kAllHostFlags) != 0) {
        CV_Error(cv::Error::StsBadFlag,
                 cv::format("mapped_allocator: flags 0x%x has bits outside kMapped|kPortable|kWriteCombined", flags));
    }
    static std::mutex* mutex = new std::mutex;
    static auto* instances = new std::map<std::pair<unsigned, bool>, MappedAllocator*>;
    const auto key = std::make_pair(flags | kMapped, pooled);
    std::lock_guard<std::mutex> lock(*mutex);
    auto found = instances->find(key);
    if (found != instances->end()) return found->second;
    auto* allocator = new MappedAllocator(key.first, pooled);  // never destroyed: Mats may outlive main()
    instances->emplace(key, allocator);
    return allocator;
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
