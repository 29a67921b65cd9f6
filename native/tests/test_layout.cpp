// The step layout of the allocator, checked against OpenCV's own StdMatAllocator as the oracle (no GPU:
// user data and the pure layout function touch no CUDA call).
#include <opencv2/core.hpp>

#include <cstring>
#include <vector>

#include "check.hpp"
#include "cvcuda_zerocopy/allocator.hpp"

namespace cvzc = cvcuda_zerocopy;

namespace {

struct Case {
    std::vector<int> sizes;
    int type;
};

const std::vector<Case>& cases() {
    static const std::vector<Case> all = {
        {{7}, CV_8UC1},
        {{5}, CV_32FC3},
        {{3, 4}, CV_8UC1},
        {{480, 640}, CV_8UC3},
        {{13, 17}, CV_16UC2},
        {{2, 3, 4}, CV_32FC1},
        {{4, 64, 64}, CV_64FC2},
        {{2, 3, 4, 5}, CV_16SC1},
        {{2, 3, 4, 5, 6}, CV_8UC4},
        {{1, 1, 1, 1, 1}, CV_32SC1},
        {{3, 0, 2}, CV_8UC1},
    };
    return all;
}

/// What OpenCV's StdMatAllocator computes for the same arguments (user data: it allocates nothing).
std::vector<size_t> std_steps(const Case& c, void* data, std::vector<size_t> steps, size_t* total) {
    cv::MatAllocator* std_alloc = cv::Mat::getStdAllocator();
    cv::UMatData* u = std_alloc->allocate(static_cast<int>(c.sizes.size()), c.sizes.data(), c.type, data, steps.data(),
                                          cv::ACCESS_RW, cv::USAGE_DEFAULT);
    *total = u->size;
    std_alloc->deallocate(u);
    return steps;
}

}  // namespace

TEST_CASE(dims_1_to_5_auto_steps) {
    for (const Case& c : cases()) {
        const int dims = static_cast<int>(c.sizes.size());
        std::vector<size_t> steps(dims, 12345);
        const size_t total = cvzc::detail::compute_layout(dims, c.sizes.data(), c.type, nullptr, steps.data());
        size_t expect = CV_ELEM_SIZE(c.type);
        for (int i = dims - 1; i >= 0; --i) {
            CHECK_EQ(steps[i], expect);
            expect *= static_cast<size_t>(c.sizes[i]);
        }
        CHECK_EQ(total, expect);
        // the oracle, with user data so it allocates nothing
        std::vector<unsigned char> buffer(std::max<size_t>(total, 1));
        size_t std_total = 0;
        const std::vector<size_t> auto_steps(dims, cvzc::kAutoStep);
        const std::vector<size_t> oracle = std_steps(c, buffer.data(), auto_steps, &std_total);
        CHECK(oracle == steps);
        CHECK_EQ(std_total, total);
    }
}

TEST_CASE(given_steps_are_used_with_user_data) {
    // 2-D 10x7 CV_8UC3 with 32-byte rows (21 needed): padded rows
    {
        const int sizes[] = {10, 7};
        size_t steps[] = {32, 3};
        const size_t total = cvzc::detail::compute_layout(2, sizes, CV_8UC3, sizes, steps);
        CHECK_EQ(steps[0], size_t(32));
        CHECK_EQ(steps[1], size_t(3));
        CHECK_EQ(total, size_t(320));
    }
    // 3-D 2x3x5 CV_16UC1, both outer steps padded
    {
        const int sizes[] = {2, 3, 5};
        size_t steps[] = {64, 16, 2};
        const size_t total = cvzc::detail::compute_layout(3, sizes, CV_16UC1, sizes, steps);
        CHECK_EQ(total, size_t(128));
        CHECK_EQ(steps[0], size_t(64));
        CHECK_EQ(steps[1], size_t(16));
    }
    // a given outer step with an automatic inner one
    {
        const int sizes[] = {4, 6};
        size_t steps[] = {40, cvzc::kAutoStep};
        const size_t total = cvzc::detail::compute_layout(2, sizes, CV_32FC1, sizes, steps);
        CHECK_EQ(steps[1], size_t(4));
        CHECK_EQ(steps[0], size_t(40));
        CHECK_EQ(total, size_t(160));
    }
    // every case with each step padded by 8 bytes per level, against the oracle
    for (const Case& c : cases()) {
        const int dims = static_cast<int>(c.sizes.size());
        std::vector<size_t> steps(dims);
        size_t s = CV_ELEM_SIZE(c.type);
        for (int i = dims - 1; i >= 0; --i) {
            steps[i] = (i == dims - 1) ? s : s + 8;
            s = steps[i] * static_cast<size_t>(c.sizes[i]);
        }
        std::vector<size_t> ours = steps;
        const int* data_tag = c.sizes.data();  // any non-null pointer: nothing is dereferenced
        const size_t total = cvzc::detail::compute_layout(dims, c.sizes.data(), c.type, data_tag, ours.data());
        CHECK(ours == steps);
        std::vector<unsigned char> buffer(std::max<size_t>(total, 1));
        size_t std_total = 0;
        CHECK(std_steps(c, buffer.data(), steps, &std_total) == ours);
        CHECK_EQ(std_total, total);
    }
}

TEST_CASE(given_steps_are_replaced_without_user_data) {
    const int sizes[] = {3, 5};
    size_t steps[] = {999, 999};
    const size_t total = cvzc::detail::compute_layout(2, sizes, CV_8UC1, nullptr, steps);
    CHECK_EQ(steps[0], size_t(5));
    CHECK_EQ(steps[1], size_t(1));
    CHECK_EQ(total, size_t(15));
}

TEST_CASE(bad_steps_are_rejected) {
    const int sizes[] = {10, 7};
    size_t short_row[] = {20, 3};  // a CV_8UC3 row of 7 needs 21 bytes
    CHECK_THROWS(cvzc::detail::compute_layout(2, sizes, CV_8UC3, sizes, short_row), cv::Exception, "step[0]");
    size_t short_elem[] = {64, 2};  // one CV_8UC3 element needs 3 bytes
    CHECK_THROWS(cvzc::detail::compute_layout(2, sizes, CV_8UC3, sizes, short_elem), cv::Exception, "step[1]");
    const int sizes3[] = {2, 3, 5};
    size_t short_plane[] = {16, 16, 2};  // a plane of 3 rows x 16 bytes needs 48
    CHECK_THROWS(cvzc::detail::compute_layout(3, sizes3, CV_16UC1, sizes3, short_plane), cv::Exception, "step[0]");
}

TEST_CASE(rows_are_padded_to_the_row_alignment) {
    // 641 x 8UC1 rows (641 bytes) round up to 672 = 21 * 32; the element step stays packed
    const int odd[] = {479, 641};
    size_t steps[] = {0, 0};
    CHECK_EQ(cvzc::detail::compute_layout(2, odd, CV_8UC1, nullptr, steps, 32), size_t(479 * 672));
    CHECK_EQ(steps[0], size_t(672));
    CHECK_EQ(steps[1], size_t(1));
    // rows that are already a multiple stay continuous: 640 x 8UC1 (640 = 20 * 32), 1920 x 8UC3
    const int even[] = {480, 640};
    CHECK_EQ(cvzc::detail::compute_layout(2, even, CV_8UC1, nullptr, steps, 32), size_t(480 * 640));
    CHECK_EQ(steps[0], size_t(640));
    const int hd[] = {1080, 1920};
    CHECK_EQ(cvzc::detail::compute_layout(2, hd, CV_8UC3, nullptr, steps, 32), size_t(1080 * 5760));
    CHECK_EQ(steps[0], size_t(5760));
    // 512 (OpenCV's HostMem pads to textureAlignment) rounds the same rows up to 6144 = 12 * 512
    CHECK_EQ(cvzc::detail::compute_layout(2, hd, CV_8UC3, nullptr, steps, 512), size_t(1080 * 6144));
    CHECK_EQ(steps[0], size_t(6144));
    // n-D: only the innermost row (step[dims-2]) is padded; the planes above it follow from it
    const int cube[] = {2, 3, 5};
    size_t steps3[] = {0, 0, 0};
    CHECK_EQ(cvzc::detail::compute_layout(3, cube, CV_16UC1, nullptr, steps3, 32), size_t(2 * 3 * 32));
    CHECK_EQ(steps3[2], size_t(2));
    CHECK_EQ(steps3[1], size_t(32));
    CHECK_EQ(steps3[0], size_t(96));
    // 1-D Mats have no rows to pad
    const int line[] = {641};
    size_t step1[] = {0};
    CHECK_EQ(cvzc::detail::compute_layout(1, line, CV_8UC1, nullptr, step1, 32), size_t(641));
    // user data keeps its own layout: the alignment does not apply
    size_t given[] = {700, 1};
    CHECK_EQ(cvzc::detail::compute_layout(2, odd, CV_8UC1, odd, given, 32), size_t(479 * 700));
    CHECK_EQ(given[0], size_t(700));
    size_t autostep[] = {cvzc::kAutoStep, cvzc::kAutoStep};
    CHECK_EQ(cvzc::detail::compute_layout(2, odd, CV_8UC1, odd, autostep, 32), size_t(479 * 641));
    // an alignment that is not a power of two is refused, naming the value
    CHECK_THROWS(cvzc::detail::compute_layout(2, odd, CV_8UC1, nullptr, steps, 24), cv::Exception, "24");
    CHECK_THROWS(cvzc::detail::compute_layout(2, odd, CV_8UC1, nullptr, steps, 0), cv::Exception, "power of two");
    CHECK_THROWS(cvzc::MappedAllocator(cvzc::kMapped, true, nullptr, 48), cv::Exception, "48");
}

TEST_CASE(bad_shapes_are_rejected) {
    const int negative[] = {3, -1};
    CHECK_THROWS(cvzc::detail::compute_layout(2, negative, CV_8UC1, nullptr, nullptr), cv::Exception, "negative");
    std::vector<int> too_many(CV_MAX_DIM + 1, 1);
    CHECK_THROWS(cvzc::detail::compute_layout(CV_MAX_DIM + 1, too_many.data(), CV_8UC1, nullptr, nullptr),
                 cv::Exception, "dims");
    const int huge[] = {1 << 30, 1 << 30, 1 << 30};
    CHECK_THROWS(cvzc::detail::compute_layout(3, huge, CV_64FC4, nullptr, nullptr), cv::Exception, "overflows");
    CHECK_EQ(cvzc::detail::compute_layout(0, nullptr, CV_32FC2, nullptr, nullptr), size_t(8));
}

TEST_CASE(allocator_user_data_matches_std_allocator) {
    cvzc::MappedAllocator alloc;  // constructing one touches no CUDA
    for (const Case& c : cases()) {
        const int dims = static_cast<int>(c.sizes.size());
        size_t size = 0;
        std::vector<size_t> steps(dims, cvzc::kAutoStep);
        std::vector<unsigned char> buffer(4096);
        cv::UMatData* u = alloc.allocate(dims, c.sizes.data(), c.type, buffer.data(), steps.data(), cv::ACCESS_RW,
                                         cv::USAGE_DEFAULT);
        REQUIRE(u != nullptr);
        const std::vector<size_t> oracle = std_steps(c, buffer.data(), std::vector<size_t>(dims, cvzc::kAutoStep), &size);
        CHECK(steps == oracle);
        CHECK_EQ(u->size, size);
        CHECK(u->data == buffer.data());
        CHECK(u->origdata == buffer.data());
        CHECK(!!(u->flags & cv::UMatData::USER_ALLOCATED));
        CHECK(u->currAllocator == &alloc);
        CHECK_EQ(u->refcount, 0);
        CHECK_EQ(u->urefcount, 0);
        alloc.deallocate(u);
    }
}

int main(int argc, char** argv) { return cvzc_test::run_all(argc, argv); }
