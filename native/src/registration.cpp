#include "cvcuda_zerocopy/registration.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>

#include "cuda_check.hpp"
#include "cvcuda_zerocopy/device.hpp"

namespace cvcuda_zerocopy {
namespace {

constexpr std::uintptr_t kPage = 4096;

/// One cudaHostRegister this process made, by page-granular interval [begin, end).
struct Entry {
    std::uintptr_t end = 0;
    void* host_ptr = nullptr;  // what cudaHostRegister was given (and cudaHostUnregister gets)
    std::size_t bytes = 0;
    void* device_ptr = nullptr;  // the alias of host_ptr
    long refs = 0;
};

/// The registry; registering and unregistering run under its lock, so a range is never seen half done.
struct Registry {
    std::mutex mutex;
    std::map<std::uintptr_t, Entry> entries;  // by begin page
};

Registry& registry() {
    static auto* r = new Registry;  // never destroyed: guards may end during static destruction
    return *r;
}

std::uintptr_t page_floor(const void* p) { return reinterpret_cast<std::uintptr_t>(p) & ~(kPage - 1); }
std::uintptr_t page_ceil(const void* p, std::size_t bytes) {
    return (reinterpret_cast<std::uintptr_t>(p) + bytes + kPage - 1) & ~(kPage - 1);
}

}  // namespace

HostRegistration::HostRegistration(const cv::Mat& m, unsigned flags) : keep_(m) {
    if (m.empty() || m.data == nullptr) CV_Error(cv::Error::StsBadArg, "HostRegistration: empty Mat");
    if (m.u != nullptr && m.u->origdata != nullptr && m.u->size != 0) {
        base_ = m.u->origdata;  // the whole allocation, so every ROI of it is covered
        bytes_ = m.u->size;
    } else {
        base_ = const_cast<uchar*>(m.datastart);
        bytes_ = static_cast<std::size_t>(m.dataend - m.datastart);
    }
    register_range(flags);
}

HostRegistration::HostRegistration(void* ptr, std::size_t bytes, unsigned flags) : base_(ptr), bytes_(bytes) {
    register_range(flags);
}

void HostRegistration::register_range(unsigned flags) {
    if ((flags & ~(kMapped | kPortable)) != 0) {
        CV_Error(cv::Error::StsBadFlag,
                 cv::format("HostRegistration: flags 0x%x: only kMapped and kPortable apply to registered memory "
                            "(write-combining needs cudaHostAlloc: use the mapped allocator)",
                            flags));
    }
    if (base_ == nullptr || bytes_ == 0) CV_Error(cv::Error::StsBadArg, "HostRegistration: nothing to register");
    const int device = ensure_device();
    const std::uintptr_t begin = page_floor(base_);
    const std::uintptr_t end = page_ceil(base_, bytes_);
    const auto address = reinterpret_cast<std::uintptr_t>(base_);

    Registry& reg = registry();
    std::lock_guard<std::mutex> lock(reg.mutex);
    // 1. This process's registrations: one that covers the whole range is shared (reference counted); one
    //    that overlaps only part of it is refused (CUDA would refuse the rest, or leave it unpinned).
    auto it = reg.entries.upper_bound(begin);
    if (it != reg.entries.begin()) --it;
    for (; it != reg.entries.end() && it->first < end; ++it) {
        const std::uintptr_t e_begin = it->first;
        Entry& entry = it->second;
        if (entry.end <= begin) continue;
        if (e_begin <= begin && end <= entry.end) {
            entry.refs += 1;
            key_ = e_begin;
            holds_ref_ = true;
            device_base_ = static_cast<char*>(entry.device_ptr) +
                           (address - reinterpret_cast<std::uintptr_t>(entry.host_ptr));
            return;
        }
        CV_Error(cv::Error::StsBadArg,
                 cv::format("HostRegistration: [%p, +%zu bytes) partly overlaps the registration [%p, +%zu bytes) "
                            "of this process (pages 0x%zx..0x%zx against 0x%zx..0x%zx); register one range that "
                            "covers both, or keep the buffers on separate pages",
                            base_, bytes_, entry.host_ptr, entry.bytes, static_cast<std::size_t>(begin),
                            static_cast<std::size_t>(end), static_cast<std::size_t>(e_begin),
                            static_cast<std::size_t>(entry.end)));
    }
    // 2. Memory pinned by someone else (the mapped allocator, another library): every page is checked.
    std::size_t pinned_pages = 0;
    std::size_t pages = 0;
    void* first_alias = nullptr;
    for (std::uintptr_t page = begin; page < end; page += kPage, ++pages) {
        const void* probe = reinterpret_cast<const void*>(std::max(page, address));
        const PointerAttributes attrs = pointer_attributes(probe);
        if (attrs.type == MemoryType::Unregistered) continue;
        if (attrs.type != MemoryType::Host) {
            CV_Error(cv::Error::StsBadArg, cv::format("HostRegistration: %p is %s memory, not host memory", probe,
                                                      memory_type_name(attrs.type)));
        }
        if (attrs.device_pointer == nullptr) {
            CV_Error(cv::Error::StsBadArg,
                     cv::format("HostRegistration: %p is already pinned but not mapped; it cannot be registered "
                                "again (allocate it with the mapped allocator instead)",
                                probe));
        }
        if (page <= address) first_alias = attrs.device_pointer;
        ++pinned_pages;
    }
    if (pinned_pages == pages) {
        device_base_ = first_alias;  // already mapped by its owner: nothing to do (``keep_`` keeps a Mat alive)
        return;
    }
    if (pinned_pages != 0) {
        CV_Error(cv::Error::StsBadArg,
                 cv::format("HostRegistration: [%p, +%zu bytes): %zu of its %zu pages are already pinned by another "
                            "allocation or registration (not this process's HostRegistration); register the pages "
                            "that are not, or allocate the buffer with the mapped allocator",
                            base_, bytes_, pinned_pages, pages));
    }
    int supported = 0;
    CVZC_CUDA_CHECK(cudaDeviceGetAttribute(&supported, cudaDevAttrHostRegisterSupported, device));
    if (supported == 0) {
        CV_Error(cv::Error::StsNotImplemented,
                 cv::format("HostRegistration: CUDA device %d does not support cudaHostRegister "
                            "(cudaDevAttrHostRegisterSupported = 0): allocate with the mapped allocator instead",
                            device));
    }
    const unsigned register_flags = cudaHostRegisterMapped | ((flags & kPortable) != 0 ? cudaHostRegisterPortable : 0u);
    CVZC_CUDA_CHECK_MSG(cudaHostRegister(base_, bytes_, register_flags),
                        cv::format("while registering %zu bytes at %p as mapped host memory", bytes_, base_));
    void* alias = nullptr;
    const cudaError_t status = cudaHostGetDevicePointer(&alias, base_, 0);
    if (status != cudaSuccess) {
        CVZC_CUDA_CHECK_NOTHROW(cudaHostUnregister(base_));
        detail::throw_cuda(status, "cudaHostGetDevicePointer(&alias, base, 0)", __FILE__, __LINE__, CV_Func,
                           "- the registered range has no device alias");
    }
    try {
        reg.entries.emplace(begin, Entry{end, base_, bytes_, alias, 1});
    } catch (...) {
        CVZC_CUDA_CHECK_NOTHROW(cudaHostUnregister(base_));
        throw;
    }
    key_ = begin;
    holds_ref_ = true;
    registered_ = true;
    device_base_ = alias;
}

int HostRegistration::drop_reference() noexcept {
    if (!holds_ref_) return cudaSuccess;
    holds_ref_ = false;
    registered_ = false;
    Registry& reg = registry();
    std::lock_guard<std::mutex> lock(reg.mutex);
    auto found = reg.entries.find(key_);
    if (found == reg.entries.end()) return cudaSuccess;  // cannot happen: every reference has its entry
    if (--found->second.refs > 0) return cudaSuccess;
    void* host = found->second.host_ptr;
    reg.entries.erase(found);
    return static_cast<int>(cudaHostUnregister(host));  // under the lock: a new registration of these pages waits for it
}

void HostRegistration::unregister_nothrow() noexcept { CVZC_CUDA_CHECK_NOTHROW(static_cast<cudaError_t>(drop_reference())); }

HostRegistration::~HostRegistration() { unregister_nothrow(); }

HostRegistration::HostRegistration(HostRegistration&& other) noexcept
    : keep_(std::move(other.keep_)),
      base_(std::exchange(other.base_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      device_base_(std::exchange(other.device_base_, nullptr)),
      registered_(std::exchange(other.registered_, false)),
      holds_ref_(std::exchange(other.holds_ref_, false)),
      key_(std::exchange(other.key_, 0)) {}

HostRegistration& HostRegistration::operator=(HostRegistration&& other) noexcept {
    if (this != &other) {
        unregister_nothrow();
        keep_ = std::move(other.keep_);
        base_ = std::exchange(other.base_, nullptr);
        bytes_ = std::exchange(other.bytes_, 0);
        device_base_ = std::exchange(other.device_base_, nullptr);
        registered_ = std::exchange(other.registered_, false);
        holds_ref_ = std::exchange(other.holds_ref_, false);
        key_ = std::exchange(other.key_, 0);
    }
    return *this;
}

void HostRegistration::release() {
    CVZC_CUDA_CHECK(static_cast<cudaError_t>(drop_reference()));
    keep_.release();
    base_ = nullptr;
    bytes_ = 0;
    device_base_ = nullptr;
}

std::size_t HostRegistration::references() const {
    if (!holds_ref_) return 0;
    Registry& reg = registry();
    std::lock_guard<std::mutex> lock(reg.mutex);
    auto found = reg.entries.find(key_);
    return found == reg.entries.end() ? 0 : static_cast<std::size_t>(found->second.refs);
}

}  // namespace cvcuda_zerocopy
