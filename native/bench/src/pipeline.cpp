#include "pipeline.hpp"

#include "bench_cuda.hpp"
#include "errors.hpp"
#include "kernels.hpp"
#include "plugin_adapter.hpp"
#include "stats.hpp"

#include <opencv2/core.hpp>
#include <opencv2/core/cuda.hpp>
#include <opencv2/core/cuda_stream_accessor.hpp>
#include <opencv2/cudafilters.hpp>
#include <opencv2/cudaimgproc.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bench {
namespace {

constexpr int kBlurSize = 5;
constexpr double kBlurSigma = 1.2;
constexpr double kCannyLow = 50.0;
constexpr double kCannyHigh = 150.0;
/// Rows above and below a band that the 5x5 blur reads: its output rows inside the band are then exactly the
/// full-frame blur's (OpenCV's CUDA filters apply the border to the ROI they are given, so the halo rows of a
/// band come out different and are cropped away).
constexpr int kHalo = kBlurSize / 2;
/// A band shorter than this is not worth a kernel launch; fewer bands are used instead.
constexpr int kMinBandRows = 16;

cv::Ptr<cv::cuda::Filter> make_blur() {
    return cv::cuda::createGaussianFilter(CV_8UC1, CV_8UC1, cv::Size(kBlurSize, kBlurSize), kBlurSigma, kBlurSigma,
                                          cv::BORDER_REFLECT_101, cv::BORDER_REFLECT_101);
}

cv::Ptr<cv::cuda::CannyEdgeDetector> make_canny() {
    return cv::cuda::createCannyEdgeDetector(kCannyLow, kCannyHigh, 3, false);
}

/// A deterministic test frame: a horizontal ramp, filled and outlined discs and rectangles (about one per
/// 20 000 pixels, so every size has the same edge density) and Gaussian noise (sigma 8).
cv::Mat make_test_frame(int width, int height) {
    cv::Mat ramp(1, width, CV_8UC1);
    for (int x = 0; x < width; ++x) ramp.at<unsigned char>(0, x) = static_cast<unsigned char>(40 + (x * 120) / width);
    cv::Mat frame;
    cv::repeat(ramp, height, 1, frame);
    cv::RNG rng(0x5eed);
    const int shapes = std::max(8, static_cast<int>((static_cast<long long>(width) * height) / 20000));
    const int max_radius = std::max(4, std::min(width, height) / 12);
    for (int i = 0; i < shapes; ++i) {
        const cv::Point center(rng.uniform(0, width), rng.uniform(0, height));
        const int radius = rng.uniform(3, max_radius);
        const cv::Scalar color(rng.uniform(0, 256));
        const int thickness = rng.uniform(0, 3) == 0 ? cv::FILLED : rng.uniform(1, 5);
        if (i % 2 == 0) {
            cv::circle(frame, center, radius, color, thickness, cv::LINE_8);
        } else {
            const cv::Point corner(center.x + rng.uniform(-radius, radius), center.y + rng.uniform(-radius, radius));
            cv::rectangle(frame, center, corner, color, thickness, cv::LINE_8);
        }
    }
    cv::Mat noise(height, width, CV_16SC1);
    rng.fill(noise, cv::RNG::NORMAL, 0.0, 8.0);
    cv::Mat wide;
    frame.convertTo(wide, CV_16SC1);
    wide += noise;
    wide.convertTo(frame, CV_8UC1);  // saturates
    return frame;
}

cv::cuda::Stream wrap(cudaStream_t stream) { return cv::cuda::StreamAccessor::wrapStream(stream); }

/// One way of running the pipeline on a frame. ``prepare`` allocates and stages the input (not timed);
/// ``run`` processes one frame with all its GPU work ordered on ``main`` (other streams fork from it and join
/// back), so events recorded on ``main`` around it time the whole frame.
class Strategy {
public:
    explicit Strategy(cudaStream_t main) : main_(main), cv_main_(wrap(main)) {}
    virtual ~Strategy() = default;
    Strategy(const Strategy&) = delete;
    Strategy& operator=(const Strategy&) = delete;

    virtual std::string name() const = 0;
    /// "cuda_event" (GPU timeline between events on ``main``) or "wall" (steady clock, the CPU pipeline).
    virtual std::string timer() const { return "cuda_event"; }
    virtual void prepare(const cv::Mat& frame) = 0;
    virtual void run() = 0;
    /// Called once after the warm-up runs: checks that outputs went where they should (throws if not).
    virtual void check_after_warmup() {}
    /// Host copy of the last frame's edges (call after the frame finished).
    virtual cv::Mat edges() = 0;
    /// Host copy of the last blurred frame, or an empty Mat.
    virtual cv::Mat blurred() { return {}; }
    virtual Json extra() const { return Json::object(); }
    /// Frames one ``run`` processes (its time is divided by this).
    virtual int frames_per_run() const { return 1; }

protected:
    cudaStream_t main_;
    cv::cuda::Stream cv_main_;
};

void require_same(const void* expected, const void* actual, const std::string& what) {
    if (expected != actual) {
        throw std::runtime_error(what + " was reallocated by OpenCV instead of being written in place");
    }
}

/// Mapped host memory from the plugin; GpuMat views over the device aliases; OpenCV reads the mapped input
/// and writes the mapped output directly.
class ZeroCopy final : public Strategy {
public:
    using Strategy::Strategy;
    std::string name() const override { return "zerocopy"; }
    void prepare(const cv::Mat& frame) override {
        cv::MatAllocator* alloc = plugin::mapped_allocator(true);
        in_ = plugin::make_mapped(frame.rows, frame.cols, CV_8UC1, alloc);
        out_ = plugin::make_mapped(frame.rows, frame.cols, CV_8UC1, alloc);
        const void* in_ptr = in_.data;
        frame.copyTo(in_);
        require_same(in_ptr, in_.data, "the mapped input Mat");
        out_.setTo(cv::Scalar::all(0));
        in_dev_ = plugin::device_view(in_);
        out_dev_ = plugin::device_view(out_);
        out_alias_ = out_dev_.data;
    }
    void run() override {
        blur_->apply(in_dev_, blur_dev_, cv_main_);
        canny_->detect(blur_dev_, out_dev_, cv_main_);
    }
    void check_after_warmup() override { require_same(out_alias_, out_dev_.data, "the mapped output view"); }
    cv::Mat edges() override { return out_.clone(); }
    cv::Mat blurred() override {
        cv::Mat host;
        blur_dev_.download(host);
        return host;
    }

private:
    cv::Ptr<cv::cuda::Filter> blur_ = make_blur();
    cv::Ptr<cv::cuda::CannyEdgeDetector> canny_ = make_canny();
    cv::Mat in_, out_;
    cv::cuda::GpuMat in_dev_, out_dev_, blur_dev_;
    const void* out_alias_ = nullptr;
};

/// Pinned (page-locked, not mapped) host buffers and explicit cudaMemcpy2DAsync in and out on the stream.
class Pinned final : public Strategy {
public:
    using Strategy::Strategy;
    std::string name() const override { return "pinned"; }
    void prepare(const cv::Mat& frame) override {
        const std::size_t bytes = frame.total();
        host_in_ = PinnedBuffer(bytes);
        host_out_ = PinnedBuffer(bytes);
        in_ = cv::Mat(frame.rows, frame.cols, CV_8UC1, host_in_.get());
        out_ = cv::Mat(frame.rows, frame.cols, CV_8UC1, host_out_.get());
        frame.copyTo(in_);
        out_.setTo(cv::Scalar::all(0));
        in_dev_.create(frame.rows, frame.cols, CV_8UC1);
        out_dev_.create(frame.rows, frame.cols, CV_8UC1);
    }
    void run() override {
        CUDA_CHECK(cudaMemcpy2DAsync(in_dev_.data, in_dev_.step, in_.data, in_.step, static_cast<std::size_t>(in_.cols),
                                     static_cast<std::size_t>(in_.rows), cudaMemcpyHostToDevice, main_));
        blur_->apply(in_dev_, blur_dev_, cv_main_);
        canny_->detect(blur_dev_, out_dev_, cv_main_);
        CUDA_CHECK(cudaMemcpy2DAsync(out_.data, out_.step, out_dev_.data, out_dev_.step,
                                     static_cast<std::size_t>(out_.cols), static_cast<std::size_t>(out_.rows),
                                     cudaMemcpyDeviceToHost, main_));
    }
    cv::Mat edges() override { return out_.clone(); }

private:
    cv::Ptr<cv::cuda::Filter> blur_ = make_blur();
    cv::Ptr<cv::cuda::CannyEdgeDetector> canny_ = make_canny();
    PinnedBuffer host_in_, host_out_;
    cv::Mat in_, out_;
    cv::cuda::GpuMat in_dev_, out_dev_, blur_dev_;
};

/// Plain (pageable) Mats and GpuMat upload/download: what code without any host-memory care does.
class Pageable final : public Strategy {
public:
    using Strategy::Strategy;
    std::string name() const override { return "pageable"; }
    void prepare(const cv::Mat& frame) override {
        in_ = frame.clone();
        out_ = cv::Mat::zeros(frame.rows, frame.cols, CV_8UC1);
        in_dev_.create(frame.rows, frame.cols, CV_8UC1);
        out_dev_.create(frame.rows, frame.cols, CV_8UC1);
    }
    void run() override {
        in_dev_.upload(in_, cv_main_);
        blur_->apply(in_dev_, blur_dev_, cv_main_);
        canny_->detect(blur_dev_, out_dev_, cv_main_);
        out_dev_.download(out_, cv_main_);
    }
    cv::Mat edges() override { return out_.clone(); }

private:
    cv::Ptr<cv::cuda::Filter> blur_ = make_blur();
    cv::Ptr<cv::cuda::CannyEdgeDetector> canny_ = make_canny();
    cv::Mat in_, out_;
    cv::cuda::GpuMat in_dev_, out_dev_, blur_dev_;
};

/// Input already in device memory, output left there: the compute floor of the pipeline.
class DeviceOnly final : public Strategy {
public:
    using Strategy::Strategy;
    std::string name() const override { return "device"; }
    void prepare(const cv::Mat& frame) override {
        in_dev_.upload(frame);
        out_dev_.create(frame.rows, frame.cols, CV_8UC1);
    }
    void run() override {
        blur_->apply(in_dev_, blur_dev_, cv_main_);
        canny_->detect(blur_dev_, out_dev_, cv_main_);
    }
    cv::Mat edges() override {
        cv::Mat host;
        out_dev_.download(host);
        return host;
    }

private:
    cv::Ptr<cv::cuda::Filter> blur_ = make_blur();
    cv::Ptr<cv::cuda::CannyEdgeDetector> canny_ = make_canny();
    cv::cuda::GpuMat in_dev_, out_dev_, blur_dev_;
};

/// cv::GaussianBlur + cv::Canny on the CPU (OpenCV's own threading), wall clock.
class Cpu final : public Strategy {
public:
    using Strategy::Strategy;
    std::string name() const override { return "cpu"; }
    std::string timer() const override { return "wall"; }
    void prepare(const cv::Mat& frame) override {
        in_ = frame.clone();
        out_ = cv::Mat::zeros(frame.rows, frame.cols, CV_8UC1);
    }
    void run() override {
        cv::GaussianBlur(in_, blur_, cv::Size(kBlurSize, kBlurSize), kBlurSigma, kBlurSigma, cv::BORDER_REFLECT_101);
        cv::Canny(blur_, out_, kCannyLow, kCannyHigh, 3, false);
    }
    cv::Mat edges() override { return out_.clone(); }
    Json extra() const override {
        Json j = Json::object();
        j.set("threads", cv::getNumThreads());
        return j;
    }

private:
    cv::Mat in_, blur_, out_;
};

/// The banded zero-copy design. The mapped input is read once, coalesced, by a copy kernel on a copy stream,
/// band by band; each band is blurred (with 2 halo rows above and below, cropped afterwards) on one of several
/// compute streams as soon as its rows have arrived, so PCIe reads overlap the blur. Canny then runs once on
/// the device-resident blurred frame (its hysteresis is global) into a device buffer, and one coalesced copy
/// kernel writes the edges to the mapped output. No cudaMemcpy between host and device.
class Banded final : public Strategy {
public:
    Banded(cudaStream_t main, int bands, int streams, int copy_blocks_per_sm)
        : Strategy(main), requested_bands_(bands), copy_blocks_per_sm_(copy_blocks_per_sm) {
        for (int i = 0; i < streams; ++i) {
            streams_.emplace_back();
            cv_streams_.push_back(wrap(streams_.back().get()));
        }
    }
    std::string name() const override { return "banded"; }

    void prepare(const cv::Mat& frame) override {
        const int rows = frame.rows;
        const int cols = frame.cols;
        cv::MatAllocator* alloc = plugin::mapped_allocator(true);
        in_ = plugin::make_mapped(rows, cols, CV_8UC1, alloc);
        out_ = plugin::make_mapped(rows, cols, CV_8UC1, alloc);
        const void* in_ptr = in_.data;
        frame.copyTo(in_);
        require_same(in_ptr, in_.data, "the mapped input Mat");
        out_.setTo(cv::Scalar::all(0));
        in_alias_ = plugin::device_view(in_);
        out_alias_ = plugin::device_view(out_);
        in_dev_.create(rows, cols, CV_8UC1);
        blur_dev_.create(rows, cols, CV_8UC1);
        edges_dev_.create(rows, cols, CV_8UC1);

        const int count = std::max(1, std::min(requested_bands_, rows / kMinBandRows));
        bands_.clear();
        for (int k = 0; k < count; ++k) {
            auto band = std::make_unique<Band>();
            band->start = static_cast<int>(static_cast<long long>(rows) * k / count);
            band->end = static_cast<int>(static_cast<long long>(rows) * (k + 1) / count);
            band->read_start = std::max(0, band->start - kHalo);
            band->read_end = std::min(rows, band->end + kHalo);
            // Copy chunks are the bands shifted down by the halo: once chunk k has arrived (and, on the one copy
            // stream, every chunk before it), rows [0, read_end of band k) are in device memory.
            band->chunk_start = k == 0 ? 0 : std::min(rows, band->start + kHalo);
            band->chunk_end = k == count - 1 ? rows : std::min(rows, band->end + kHalo);
            band->blur = make_blur();
            band->tmp.create(band->read_end - band->read_start, cols, CV_8UC1);
            bands_.push_back(std::move(band));
        }
        copy_blocks_ = copy_blocks_per_sm_ * multiprocessor_count();
    }

    void run() override {
        const int cols = in_.cols;
        fork_.record(main_);
        fork_.wait_on(copy_.get());
        for (auto& band : bands_) {
            const int rows = band->chunk_end - band->chunk_start;
            copy_rows(in_alias_.ptr(band->chunk_start), in_alias_.step, in_dev_.ptr(band->chunk_start), in_dev_.step,
                      static_cast<std::size_t>(cols), rows, copy_.get(), CopyLaunch{copy_blocks_});
            band->copied.record(copy_.get());
        }
        for (std::size_t k = 0; k < bands_.size(); ++k) {
            Band& band = *bands_[k];
            const std::size_t s = k % streams_.size();
            band.copied.wait_on(streams_[s].get());
            band.blur->apply(in_dev_.rowRange(band.read_start, band.read_end), band.tmp, cv_streams_[s]);
            cv::cuda::GpuMat produced = band.tmp.rowRange(band.start - band.read_start, band.end - band.read_start);
            cv::cuda::GpuMat target = blur_dev_.rowRange(band.start, band.end);
            produced.copyTo(target, cv_streams_[s]);  // device to device: the crop
            band.blurred.record(streams_[s].get());
        }
        for (auto& band : bands_) band->blurred.wait_on(main_);
        canny_->detect(blur_dev_, edges_dev_, cv_main_);
        copy_rows(edges_dev_.data, edges_dev_.step, out_alias_.data, out_alias_.step, static_cast<std::size_t>(cols),
                  out_.rows, main_);
    }

    void check_after_warmup() override {
        for (const auto& band : bands_) {
            if (band->tmp.rows != band->read_end - band->read_start) {
                throw std::runtime_error("a band buffer of the banded strategy changed size");
            }
        }
    }

    cv::Mat edges() override { return out_.clone(); }
    cv::Mat blurred() override {
        cv::Mat host;
        blur_dev_.download(host);
        return host;
    }
    Json extra() const override {
        Json j = Json::object();
        j.set("bands", static_cast<int>(bands_.size()));
        j.set("streams", static_cast<int>(streams_.size()));
        j.set("halo_rows", kHalo);
        j.set("copy_blocks", copy_blocks_);
        j.set("copy_vector_bytes", copy_vector_bytes(in_alias_.data, in_alias_.step, in_dev_.data, in_dev_.step));
        return j;
    }

private:
    struct Band {
        int start = 0, end = 0;            // rows this band produces
        int read_start = 0, read_end = 0;  // rows its blur reads (with halo)
        int chunk_start = 0, chunk_end = 0;
        cv::Ptr<cv::cuda::Filter> blur;    // one per band: a filter's scratch buffer is not shareable
        cv::cuda::GpuMat tmp;              // blurred band with halo rows
        Event copied{false};
        Event blurred{false};
    };

    int requested_bands_;
    int copy_blocks_per_sm_;
    int copy_blocks_ = 0;
    Stream copy_;
    std::vector<Stream> streams_;
    std::vector<cv::cuda::Stream> cv_streams_;
    Event fork_{false};
    std::vector<std::unique_ptr<Band>> bands_;
    cv::Ptr<cv::cuda::CannyEdgeDetector> canny_ = make_canny();
    cv::Mat in_, out_;
    cv::cuda::GpuMat in_alias_, out_alias_, in_dev_, blur_dev_, edges_dev_;
};

/// Zero-copy with consecutive frames overlapped (a video stream): while frame i is blurred and Canny runs on
/// it, a copy kernel reads frame i+1 from mapped memory and another writes frame i-1's edges to mapped memory.
/// Two slots of buffers alternate. One run is a burst of kFrames frames; its time divided by kFrames is the
/// time per frame at that rate (throughput, not the latency of one frame). Canny's own host synchronisation
/// and its cudaFree (a device-wide wait) bound how much overlaps.
class Pipelined final : public Strategy {
public:
    static constexpr int kFrames = 8;

    Pipelined(cudaStream_t main, int copy_blocks_per_sm)
        : Strategy(main), cv_compute_(wrap(compute_.get())), copy_blocks_per_sm_(copy_blocks_per_sm) {}
    std::string name() const override { return "pipelined"; }
    int frames_per_run() const override { return kFrames; }

    void prepare(const cv::Mat& frame) override {
        cv::MatAllocator* alloc = plugin::mapped_allocator(true);
        for (Slot& slot : slots_) {
            slot.in = plugin::make_mapped(frame.rows, frame.cols, CV_8UC1, alloc);
            slot.out = plugin::make_mapped(frame.rows, frame.cols, CV_8UC1, alloc);
            const void* in_ptr = slot.in.data;
            frame.copyTo(slot.in);
            require_same(in_ptr, slot.in.data, "a mapped input Mat");
            slot.out.setTo(cv::Scalar::all(0));
            slot.in_alias = plugin::device_view(slot.in);
            slot.out_alias = plugin::device_view(slot.out);
            slot.in_dev.create(frame.rows, frame.cols, CV_8UC1);
            slot.blur_dev.create(frame.rows, frame.cols, CV_8UC1);
            slot.edges_dev.create(frame.rows, frame.cols, CV_8UC1);
            slot.blur = make_blur();
        }
        copy_blocks_ = copy_blocks_per_sm_ * multiprocessor_count();
    }

    void run() override {
        fork_.record(main_);
        for (const Stream* s : {&compute_, &copy_in_, &copy_out_}) fork_.wait_on(s->get());
        enqueue_input(0);
        for (int i = 0; i < kFrames; ++i) {
            Slot& slot = slots_[static_cast<std::size_t>(i % 2)];
            if (i + 1 < kFrames) enqueue_input(i + 1);
            slot.in_copied.wait_on(compute_.get());
            slot.blur->apply(slot.in_dev, slot.blur_dev, cv_compute_);
            slot.blur_done.record(compute_.get());
            if (i >= 2) slot.out_done.wait_on(compute_.get());  // frame i-2's edges have left this buffer
            canny_->detect(slot.blur_dev, slot.edges_dev, cv_compute_);
            slot.canny_done.record(compute_.get());
            slot.canny_done.wait_on(copy_out_.get());
            copy_rows(slot.edges_dev.data, slot.edges_dev.step, slot.out_alias.data, slot.out_alias.step,
                      static_cast<std::size_t>(slot.out.cols), slot.out.rows, copy_out_.get(),
                      CopyLaunch{copy_blocks_});
            slot.out_done.record(copy_out_.get());
        }
        for (std::size_t k = 0; k < joins_.size(); ++k) {
            const Stream* s = k == 0 ? &compute_ : (k == 1 ? &copy_in_ : &copy_out_);
            joins_[k].record(s->get());
            joins_[k].wait_on(main_);
        }
    }

    cv::Mat edges() override { return slots_[(kFrames - 1) % 2].out.clone(); }
    Json extra() const override {
        Json j = Json::object();
        j.set("frames_per_run", kFrames);
        j.set("copy_blocks", copy_blocks_);
        cv::Mat diff;
        cv::compare(slots_[0].out, slots_[1].out, diff, cv::CMP_NE);
        j.set("slot_mismatched_pixels", static_cast<long long>(cv::countNonZero(diff)));
        return j;
    }

private:
    struct Slot {
        cv::Mat in, out;
        cv::cuda::GpuMat in_alias, out_alias, in_dev, blur_dev, edges_dev;
        cv::Ptr<cv::cuda::Filter> blur;
        Event in_copied{false}, blur_done{false}, canny_done{false}, out_done{false};
    };

    void enqueue_input(int frame_index) {
        Slot& slot = slots_[static_cast<std::size_t>(frame_index % 2)];
        if (frame_index >= 2) slot.blur_done.wait_on(copy_in_.get());  // frame - 2 no longer reads in_dev
        copy_rows(slot.in_alias.data, slot.in_alias.step, slot.in_dev.data, slot.in_dev.step,
                  static_cast<std::size_t>(slot.in.cols), slot.in.rows, copy_in_.get(), CopyLaunch{copy_blocks_});
        slot.in_copied.record(copy_in_.get());
    }

    Stream compute_, copy_in_, copy_out_;
    cv::cuda::Stream cv_compute_;
    std::array<Slot, 2> slots_;
    cv::Ptr<cv::cuda::CannyEdgeDetector> canny_ = make_canny();
    Event fork_{false};
    std::array<Event, 3> joins_{Event{false}, Event{false}, Event{false}};
    int copy_blocks_per_sm_;
    int copy_blocks_ = 0;
};

struct Bandwidth {
    std::size_t bytes = 0;
    Summary h2d_ms, d2h_ms;
    double h2d_gbps() const { return static_cast<double>(bytes) / (h2d_ms.min * 1e6); }
    double d2h_gbps() const { return static_cast<double>(bytes) / (d2h_ms.min * 1e6); }
    /// Milliseconds to move ``in`` bytes to the device and ``out`` bytes back at the best measured rates.
    double floor_ms(std::size_t in, std::size_t out) const {
        return static_cast<double>(in) / (h2d_gbps() * 1e6) + static_cast<double>(out) / (d2h_gbps() * 1e6);
    }
};

/// Pinned cudaMemcpyAsync of a 256 MiB buffer each way, 10 timed runs after one warm-up: the host-device
/// bandwidth the copy strategies are measured against.
Bandwidth measure_bandwidth(cudaStream_t stream) {
    Bandwidth bw;
    bw.bytes = std::size_t{256} << 20;
    PinnedBuffer host(bw.bytes);
    DeviceBuffer dev(bw.bytes);
    std::memset(host.get(), 0x5a, bw.bytes);
    Event start, stop;
    auto time_copy = [&](cudaMemcpyKind kind) {
        std::vector<double> samples;
        for (int i = 0; i < 11; ++i) {
            start.record(stream);
            if (kind == cudaMemcpyHostToDevice) {
                CUDA_CHECK(cudaMemcpyAsync(dev.get(), host.get(), bw.bytes, kind, stream));
            } else {
                CUDA_CHECK(cudaMemcpyAsync(host.get(), dev.get(), bw.bytes, kind, stream));
            }
            stop.record(stream);
            stop.synchronize();
            if (i > 0) samples.push_back(stop.elapsed_since(start));
        }
        return summarize(samples);
    };
    bw.h2d_ms = time_copy(cudaMemcpyHostToDevice);
    bw.d2h_ms = time_copy(cudaMemcpyDeviceToHost);
    return bw;
}

Json bandwidth_json(const Bandwidth& bw) {
    Json j = Json::object();
    j.set("method", "pinned cudaMemcpyAsync, best of 10 after 1 warm-up");
    j.set("bytes", static_cast<long long>(bw.bytes));
    j.set("h2d_gbps", bw.h2d_gbps());
    j.set("d2h_gbps", bw.d2h_gbps());
    j.set("h2d_median_gbps", static_cast<double>(bw.bytes) / (bw.h2d_ms.median * 1e6));
    j.set("d2h_median_gbps", static_cast<double>(bw.bytes) / (bw.d2h_ms.median * 1e6));
    return j;
}

std::unique_ptr<Strategy> make_strategy(const std::string& name, cudaStream_t main, const PipelineOptions& o) {
    if (name == "zerocopy") return std::make_unique<ZeroCopy>(main);
    if (name == "pinned") return std::make_unique<Pinned>(main);
    if (name == "pageable") return std::make_unique<Pageable>(main);
    if (name == "device") return std::make_unique<DeviceOnly>(main);
    if (name == "cpu") return std::make_unique<Cpu>(main);
    if (name == "banded") return std::make_unique<Banded>(main, o.bands, o.streams, o.copy_blocks_per_sm);
    if (name == "pipelined") return std::make_unique<Pipelined>(main, o.copy_blocks_per_sm);
    throw UsageError("unknown strategy " + name + " (known: zerocopy, banded, pipelined, pinned, pageable, device, cpu)");
}

double ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

struct Measured {
    Json json;
    cv::Mat edges;
    cv::Mat blurred;
};

Measured measure(Strategy& strategy, const cv::Mat& frame, cudaStream_t main, const PipelineOptions& o) {
    strategy.prepare(frame);
    CUDA_CHECK(cudaDeviceSynchronize());
    for (int i = 0; i < o.warmup; ++i) {
        strategy.run();
        CUDA_CHECK(cudaStreamSynchronize(main));
    }
    strategy.check_after_warmup();
    const bool gpu = strategy.timer() == "cuda_event";
    Event start, stop;
    std::vector<double> primary, wall;
    for (int i = 0; i < o.repeat; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        if (gpu) start.record(main);
        strategy.run();
        if (gpu) {
            stop.record(main);
            stop.synchronize();
        }
        const double frames = strategy.frames_per_run();
        const double wall_ms = ms_since(t0) / frames;
        wall.push_back(wall_ms);
        primary.push_back(gpu ? static_cast<double>(stop.elapsed_since(start)) / frames : wall_ms);
    }
    CUDA_CHECK(cudaDeviceSynchronize());
    Measured m;
    m.json = Json::object();
    m.json.set("timer", strategy.timer());
    put_summary_ms(m.json, summarize(primary));
    const Summary w = summarize(wall);
    m.json.set("wall_median_ms", w.median);
    m.json.set("wall_p10_ms", w.p10);
    m.json.set("wall_p90_ms", w.p90);
    m.json.set("config", strategy.extra());
    m.edges = strategy.edges();
    m.blurred = strategy.blurred();
    return m;
}

long long count_mismatches(const cv::Mat& a, const cv::Mat& b) {
    if (a.empty() || b.empty()) return -1;
    if (a.size() != b.size() || a.type() != b.type()) return static_cast<long long>(a.total());
    cv::Mat diff;
    cv::compare(a, b, diff, cv::CMP_NE);
    return static_cast<long long>(cv::countNonZero(diff));
}

}  // namespace

const std::vector<std::string>& pipeline_strategy_names() {
    static const std::vector<std::string> names = {"zerocopy", "banded", "pipelined", "pinned",
                                                   "pageable", "device",   "cpu"};
    return names;
}

void select_device(int device) {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
        (void)cudaGetLastError();
        throw NoDeviceError(std::string("no CUDA device: cudaGetDeviceCount: ") + cudaGetErrorName(status) + " (" +
                            cudaGetErrorString(status) + ")");
    }
    if (count == 0) throw NoDeviceError("no CUDA device: the runtime reports 0 devices");
    if (device >= count) {
        throw UsageError("--device " + std::to_string(device) + ": only " + std::to_string(count) +
                         " CUDA device(s) visible (0.." + std::to_string(count - 1) + ")");
    }
    CUDA_CHECK(cudaSetDevice(device));
    cv::cuda::setDevice(device);
    plugin::setup_device(device);
    int can_map = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&can_map, cudaDevAttrCanMapHostMemory, device));
    if (can_map == 0) {
        throw NoDeviceError("no CUDA device that can map host memory: device " + std::to_string(device) +
                            " reports cudaDevAttrCanMapHostMemory = 0");
    }
}

Json device_info(int device) {
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    int driver = 0;
    int runtime = 0;
    CUDA_CHECK(cudaDriverGetVersion(&driver));
    CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    char bus[32] = {0};
    CUDA_CHECK(cudaDeviceGetPCIBusId(bus, sizeof(bus), device));
    Json j = Json::object();
    j.set("index", device);
    j.set("name", std::string(prop.name));
    j.set("compute_capability", std::to_string(prop.major) + "." + std::to_string(prop.minor));
    j.set("multiprocessors", prop.multiProcessorCount);
    j.set("total_memory", static_cast<long long>(prop.totalGlobalMem));
    j.set("pci_bus_id", std::string(bus));
    j.set("integrated", prop.integrated != 0);
    j.set("driver_cuda_version", std::to_string(driver / 1000) + "." + std::to_string((driver % 1000) / 10));
    j.set("runtime_cuda_version", std::to_string(runtime / 1000) + "." + std::to_string((runtime % 1000) / 10));
    return j;
}

Json run_pipeline(const PipelineOptions& o) {
    std::vector<std::string> names = o.strategies.empty() ? pipeline_strategy_names() : o.strategies;
    for (const std::string& name : names) {
        const auto& known = pipeline_strategy_names();
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            throw UsageError("--strategies: unknown strategy " + name +
                             " (known: zerocopy, banded, pipelined, pinned, pageable, device, cpu)");
        }
    }
    select_device(o.device);
    Stream main;

    Json doc = Json::object();
    doc.set("schema", "cvcuda-setup/bench-pipeline/1");
    doc.set("device", device_info(o.device));
    doc.set("opencv_version", cv::getVersionString());
    doc.set("plugin", plugin::describe());
    doc.set("plugin_device_setup", plugin::setup_device(o.device));
    Json params = Json::object();
    params.set("pipeline", "GaussianBlur 5x5 sigma 1.2 (BORDER_REFLECT_101) + Canny 50/150 aperture 3 L1, CV_8UC1");
    params.set("repeat", o.repeat);
    params.set("warmup", o.warmup);
    params.set("bands", o.bands);
    params.set("streams", o.streams);
    params.set("copy_blocks_per_sm", o.copy_blocks_per_sm);
    params.set("reference", "zerocopy");
    Json strategies_json = Json::array();
    for (const auto& name : names) strategies_json.push(name);
    params.set("strategies", std::move(strategies_json));
    doc.set("params", std::move(params));

    const Bandwidth bw = measure_bandwidth(main.get());
    doc.set("bandwidth", bandwidth_json(bw));

    Json results = Json::array();
    for (const FrameSize& size : o.sizes) {
        const cv::Mat frame = make_test_frame(size.width, size.height);
        const std::size_t bytes = frame.total();
        Json entry = Json::object();
        entry.set("size", size.text());
        entry.set("width", size.width);
        entry.set("height", size.height);
        entry.set("megapixels", static_cast<double>(bytes) / 1e6);
        entry.set("bytes_in", static_cast<long long>(bytes));
        entry.set("bytes_out", static_cast<long long>(bytes));
        entry.set("floor_ms", bw.floor_ms(bytes, bytes));

        std::map<std::string, Measured> measured;
        for (const std::string& name : names) {
            auto strategy = make_strategy(name, main.get(), o);
            measured[name] = measure(*strategy, frame, main.get(), o);
        }
        const auto ref = measured.find("zerocopy");
        Json per_strategy = Json::object();
        for (const std::string& name : names) {
            Measured& m = measured[name];
            if (ref != measured.end()) {
                const long long bad = count_mismatches(m.edges, ref->second.edges);
                m.json.set("mismatched_pixels", bad < 0 ? Json() : Json(bad));
                if (!m.blurred.empty() && name != "zerocopy") {
                    const long long blur_bad = count_mismatches(m.blurred, ref->second.blurred);
                    m.json.set("blur_mismatched_pixels", blur_bad < 0 ? Json() : Json(blur_bad));
                }
            } else {
                m.json.set("mismatched_pixels", Json());
            }
            m.json.set("edge_pixels", static_cast<long long>(cv::countNonZero(m.edges)));
            per_strategy.set(name, std::move(m.json));
        }
        entry.set("strategies", std::move(per_strategy));
        results.push(std::move(entry));
    }
    doc.set("results", std::move(results));
    doc.set("pool", plugin::pool_stats());
    return doc;
}

}  // namespace bench
