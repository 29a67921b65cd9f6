#include "cvcuda_zerocopy/view.hpp"

#include <cstddef>
#include <type_traits>

#include "cuda_check.hpp"
#include "cvcuda_zerocopy/allocator.hpp"
#include "cvcuda_zerocopy/device.hpp"
#include "cvcuda_zerocopy/pool.hpp"

namespace cvcuda_zerocopy {
namespace {

/// The alias of ``host`` inside a pool block: cudaHostGetDevicePointer on the block's base plus the offset.
void* alias_in_block(const Block& block, const void* host) {
    void* base = nullptr;
    CVZC_CUDA_CHECK_MSG(
        cudaHostGetDevicePointer(&base, block.ptr, 0),
        cv::format("for the pool block at %p (%zu bytes, allocated for device %d%s)", block.ptr, block.capacity,
                   block.device, block.device < 0 ? ", portable" : "; not portable: use it on that device"));
    const std::ptrdiff_t offset = static_cast<const char*>(host) - static_cast<const char*>(block.ptr);
    return static_cast<char*>(base) + offset;
}

void* alias_from_attributes(const void* host) {
    const PointerAttributes attrs = pointer_attributes(host);
    if (attrs.type != MemoryType::Host) {
        CV_Error(cv::Error::StsBadArg,
                 cv::format("%p is %s memory, not mapped host memory: allocate it with the mapped allocator "
                            "(cvcuda_zerocopy::mapped_allocator, Python mapped_empty) or register it "
                            "(HostRegistration, Python register)",
                            host, memory_type_name(attrs.type)));
    }
    if (attrs.device_pointer == nullptr) {
        CV_Error(cv::Error::StsBadArg,
                 cv::format("%p is pinned host memory without a device alias on the current device (allocated "
                            "without cudaHostAllocMapped, registered without cudaHostRegisterMapped, or mapped "
                            "for another device without the portable flag)",
                            host));
    }
    return attrs.device_pointer;
}

/// Owner of a gpu_view: the GpuMat's ``refcount`` points at ``refcount`` (the first member), so the last
/// GpuMat::release calls ViewOwnerAllocator::free, which drops the Mat copy.
struct ViewRef {
    int refcount;
    cv::Mat* owner;
    /// The stream the view's work runs on (gpu_view(m, stream)): its use is recorded there when the view ends.
    cudaStream_t stream;
    bool has_stream;
};
static_assert(std::is_standard_layout<ViewRef>::value, "ViewRef must be standard layout");
static_assert(offsetof(ViewRef, refcount) == 0, "refcount must be ViewRef's first member");

class ViewOwnerAllocator final : public cv::cuda::GpuMat::Allocator {
public:
    /// A view is never grown in place: GpuMat::create falls back to the default (device) allocator.
    bool allocate(cv::cuda::GpuMat* /*mat*/, int /*rows*/, int /*cols*/, size_t /*elemSize*/) override {
        return false;
    }
    void free(cv::cuda::GpuMat* mat) override {
        auto* ref = reinterpret_cast<ViewRef*>(mat->refcount);
        if (ref == nullptr) return;
        if (ref->has_stream) {
            try {
                record_use(*ref->owner, ref->stream);
            } catch (...) {
                // cannot track the use: wait for the stream instead, so the block is never reused early
                CVZC_CUDA_CHECK_NOTHROW(cudaStreamSynchronize(ref->stream));
            }
        }
        delete ref->owner;  // may return the block to the pool (MappedAllocator::deallocate never throws)
        delete ref;
    }
};

ViewOwnerAllocator& view_owner_allocator() {
    static auto* allocator = new ViewOwnerAllocator;  // never destroyed: views may outlive main()
    return *allocator;
}

}  // namespace

bool opencv_has_cuda() noexcept {
    try {
        return cv::cuda::GpuMat::defaultAllocator() != nullptr;
    } catch (...) {
        return false;
    }
}

void* device_pointer(const void* host) {
    if (host == nullptr) CV_Error(cv::Error::StsNullPtr, "device_pointer: null pointer");
    ensure_device();
    Block block;
    if (default_pool().find(host, &block)) return alias_in_block(block, host);
    return alias_from_attributes(host);
}

void* device_pointer(const cv::Mat& m) {
    if (m.empty() || m.data == nullptr) CV_Error(cv::Error::StsBadArg, "device_pointer: empty Mat");
    ensure_device();
    if (allocated_by_plugin(m)) {
        // Fast path: the alias recorded at allocation, valid on the device current then; no pool lock.
        if (m.u->handle != nullptr && m.u->allocatorFlags_ == ensure_device() + 1) {
            const std::ptrdiff_t offset = m.data - m.u->origdata;
            return static_cast<char*>(m.u->handle) + offset;
        }
        const auto* allocator = static_cast<const MappedAllocator*>(m.u->currAllocator);
        Block block;
        if (allocator->pool().find(m.data, &block)) return alias_in_block(block, m.data);
    }
    return device_pointer(static_cast<const void*>(m.data));
}

cv::cuda::GpuMat gpu_header(const cv::Mat& m) {
    if (m.empty()) CV_Error(cv::Error::StsBadArg, "gpu_header: empty Mat");
    if (m.dims > 2) {
        CV_Error(cv::Error::StsBadArg,
                 cv::format("gpu_header: a %d-D Mat has no GpuMat view (GpuMat is 2-D; keep channels in the type, "
                            "e.g. HxW CV_8UC3); use device_pointer() for n-D Mats",
                            m.dims));
    }
    int rows = m.rows;
    int cols = m.cols;
    size_t step = m.cols * m.elemSize();
    if (m.dims == 2) {
        step = m.step[0];
    } else {  // OpenCV 5 1-D Mat: one row
        rows = 1;
        cols = static_cast<int>(m.total());
    }
    void* alias = device_pointer(m);
    return cv::cuda::GpuMat(rows, cols, m.type(), alias, step);
}

void record_use(const cv::Mat& m, cudaStream_t stream) {
    if (!allocated_by_plugin(m)) return;  // user data, registered or foreign memory: not the pool's to reuse
    const auto* allocator = static_cast<const MappedAllocator*>(m.u->currAllocator);
    if (!allocator->pooled()) return;  // freed with cudaFreeHost, which synchronises
    allocator->pool().record_use(m.u->origdata, stream);
}

cv::cuda::GpuMat gpu_view(const cv::Mat& m, cudaStream_t stream) { return detail::make_view(m, stream, true); }

cv::cuda::GpuMat gpu_view(const cv::Mat& m) { return detail::make_view(m, nullptr, false); }

cv::cuda::GpuMat detail::make_view(const cv::Mat& m, cudaStream_t stream, bool has_stream) {
    if (!opencv_has_cuda()) {
        CV_Error(cv::Error::StsNotImplemented,
                 "gpu_view: this OpenCV was built without CUDA, so its GpuMat cannot own a view; use gpu_header() "
                 "and keep the Mat alive yourself");
    }
    cv::cuda::GpuMat view = gpu_header(m);
    auto* owner = new cv::Mat(m);
    ViewRef* ref = nullptr;
    try {
        ref = new ViewRef{1, owner, stream, has_stream};
    } catch (...) {
        delete owner;
        throw;
    }
    view.refcount = &ref->refcount;
    view.allocator = &view_owner_allocator();
    return view;
}

}  // namespace cvcuda_zerocopy
