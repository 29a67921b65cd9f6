#include "cvcuda_zerocopy/registration.hpp"

#include <utility>

#include "cuda_check.hpp"
#include "cvcuda_zerocopy/device.hpp"

namespace cvcuda_zerocopy {

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
    const PointerAttributes attrs = pointer_attributes(base_);
    if (attrs.type == MemoryType::Host) {
        if (attrs.device_pointer == nullptr) {
            CV_Error(cv::Error::StsBadArg,
                     cv::format("HostRegistration: %p is already pinned but not mapped; it cannot be registered "
                                "again (allocate it with the mapped allocator instead)",
                                base_));
        }
        device_base_ = attrs.device_pointer;  // already mapped (e.g. from the mapped allocator): nothing to do
        return;
    }
    if (attrs.type != MemoryType::Unregistered) {
        CV_Error(cv::Error::StsBadArg,
                 cv::format("HostRegistration: %p is %s memory, not host memory", base_, memory_type_name(attrs.type)));
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
    registered_ = true;
    void* alias = nullptr;
    const cudaError_t status = cudaHostGetDevicePointer(&alias, base_, 0);
    if (status != cudaSuccess) {
        unregister_nothrow();
        detail::throw_cuda(status, "cudaHostGetDevicePointer(&alias, base, 0)", __FILE__, __LINE__, CV_Func,
                           "- the registered range has no device alias");
    }
    device_base_ = alias;
}

void HostRegistration::unregister_nothrow() noexcept {
    if (registered_) {
        CVZC_CUDA_CHECK_NOTHROW(cudaHostUnregister(base_));
        registered_ = false;
    }
}

HostRegistration::~HostRegistration() { unregister_nothrow(); }

HostRegistration::HostRegistration(HostRegistration&& other) noexcept
    : keep_(std::move(other.keep_)),
      base_(std::exchange(other.base_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      device_base_(std::exchange(other.device_base_, nullptr)),
      registered_(std::exchange(other.registered_, false)) {}

HostRegistration& HostRegistration::operator=(HostRegistration&& other) noexcept {
    if (this != &other) {
        unregister_nothrow();
        keep_ = std::move(other.keep_);
        base_ = std::exchange(other.base_, nullptr);
        bytes_ = std::exchange(other.bytes_, 0);
        device_base_ = std::exchange(other.device_base_, nullptr);
        registered_ = std::exchange(other.registered_, false);
    }
    return *this;
}

void HostRegistration::release() {
    if (registered_) {
        CVZC_CUDA_CHECK(cudaHostUnregister(base_));
        registered_ = false;
    }
    keep_.release();
    base_ = nullptr;
    bytes_ = 0;
    device_base_ = nullptr;
}

}  // namespace cvcuda_zerocopy
