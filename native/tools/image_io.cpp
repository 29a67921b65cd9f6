#include "image_io.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <vector>

#ifdef CVZC_HAVE_IMGCODECS
#include <opencv2/imgcodecs.hpp>
#endif

namespace cvzc_tool {
namespace {

// ------------------------------------------------------------------------------------------------ PNG writer

std::uint32_t crc32(const unsigned char* data, std::size_t n, std::uint32_t crc = 0) {
    static const std::array<std::uint32_t, 256> table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    crc = ~crc;
    for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

void put_be32(std::vector<unsigned char>& out, std::uint32_t v) {
    out.push_back(static_cast<unsigned char>(v >> 24));
    out.push_back(static_cast<unsigned char>(v >> 16));
    out.push_back(static_cast<unsigned char>(v >> 8));
    out.push_back(static_cast<unsigned char>(v));
}

void put_chunk(std::vector<unsigned char>& out, const char* type, const std::vector<unsigned char>& data) {
    put_be32(out, static_cast<std::uint32_t>(data.size()));
    std::vector<unsigned char> body(type, type + 4);
    body.insert(body.end(), data.begin(), data.end());
    out.insert(out.end(), body.begin(), body.end());
    put_be32(out, crc32(body.data(), body.size()));
}

/// PNG, 8-bit greyscale, filter 0, zlib "stored" (uncompressed) deflate blocks.
std::vector<unsigned char> encode_png(const cv::Mat& image) {
    const auto width = static_cast<std::uint32_t>(image.cols);
    const auto height = static_cast<std::uint32_t>(image.rows);
    std::vector<unsigned char> raw;
    raw.reserve(static_cast<std::size_t>(height) * (width + 1));
    for (int y = 0; y < image.rows; ++y) {
        raw.push_back(0);  // filter: none
        const uchar* row = image.ptr<uchar>(y);
        raw.insert(raw.end(), row, row + image.cols);
    }
    std::vector<unsigned char> z = {0x78, 0x01};
    std::size_t pos = 0;
    do {
        const std::size_t len = std::min<std::size_t>(65535, raw.size() - pos);
        const bool last = pos + len == raw.size();
        z.push_back(last ? 1 : 0);
        z.push_back(static_cast<unsigned char>(len & 0xFF));
        z.push_back(static_cast<unsigned char>(len >> 8));
        z.push_back(static_cast<unsigned char>(~len & 0xFF));
        z.push_back(static_cast<unsigned char>((~len >> 8) & 0xFF));
        z.insert(z.end(), raw.begin() + static_cast<std::ptrdiff_t>(pos),
                 raw.begin() + static_cast<std::ptrdiff_t>(pos + len));
        pos += len;
    } while (pos < raw.size());
    std::uint32_t a = 1, b = 0;
    for (unsigned char c : raw) {
        a = (a + c) % 65521u;
        b = (b + a) % 65521u;
    }
    put_be32(z, (b << 16) | a);

    std::vector<unsigned char> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    std::vector<unsigned char> ihdr;
    put_be32(ihdr, width);
    put_be32(ihdr, height);
    ihdr.insert(ihdr.end(), {8, 0, 0, 0, 0});  // bit depth 8, greyscale, deflate, filter 0, no interlace
    put_chunk(png, "IHDR", ihdr);
    put_chunk(png, "IDAT", z);
    put_chunk(png, "IEND", {});
    return png;
}

// ------------------------------------------------------------------------------------------------ PGM reader

std::string pgm_token(std::istream& in) {
    std::string token;
    int c = in.get();
    while (c != EOF) {
        if (c == '#') {
            while (c != EOF && c != '\n') c = in.get();
        } else if (std::isspace(c)) {
            if (!token.empty()) break;
        } else {
            token += static_cast<char>(c);
        }
        c = in.get();
    }
    return token;
}

void read_pgm(const std::string& path, cv::Mat& dst) {
    std::ifstream in(path, std::ios::binary);
    if (!in) CV_Error(cv::Error::StsError, "cannot open " + path);
    if (pgm_token(in) != "P5") {
        CV_Error(cv::Error::StsError, path + ": not a binary PGM (P5); this tool was built without OpenCV's "
                                             "imgcodecs, so only PGM input (or --pattern) works");
    }
    const int width = std::atoi(pgm_token(in).c_str());
    const int height = std::atoi(pgm_token(in).c_str());
    const int maxval = std::atoi(pgm_token(in).c_str());
    if (width <= 0 || height <= 0 || maxval <= 0 || maxval > 255) {
        CV_Error(cv::Error::StsError, path + ": unsupported PGM header (need 8-bit, positive size)");
    }
    dst.create(height, width, CV_8UC1);
    for (int y = 0; y < height; ++y) {
        in.read(reinterpret_cast<char*>(dst.ptr<uchar>(y)), width);
        if (!in) CV_Error(cv::Error::StsError, path + ": truncated PGM data");
    }
}

}  // namespace

bool have_imgcodecs() {
#ifdef CVZC_HAVE_IMGCODECS
    return true;
#else
    return false;
#endif
}

void read_gray(const std::string& path, cv::Mat& dst) {
#ifdef CVZC_HAVE_IMGCODECS
    if (path.size() < 4 || path.compare(path.size() - 4, 4, ".pgm") != 0) {
        cv::Mat image = cv::imread(path, cv::IMREAD_GRAYSCALE);
        if (image.empty()) {
            CV_Error(cv::Error::StsError,
                     "cv::imread could not read " + path + " (missing, or its codec is not built)");
        }
        if (image.type() != CV_8UC1) CV_Error(cv::Error::StsError, path + ": not an 8-bit greyscale image");
        dst = image;
        return;
    }
#endif
    read_pgm(path, dst);
}

void write_gray(const std::string& path, const cv::Mat& image) {
    CV_Assert(image.type() == CV_8UC1 && image.dims == 2);
#ifdef CVZC_HAVE_IMGCODECS
    if (!cv::imwrite(path, image)) CV_Error(cv::Error::StsError, "cv::imwrite could not write " + path);
#else
    const std::vector<unsigned char> png = encode_png(image);
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
    if (!out) CV_Error(cv::Error::StsError, "cannot write " + path);
#endif
}

const char* pattern_names() { return "checkerboard, stripes, discs"; }

void fill_pattern(const std::string& name, cv::Mat& dst) {
    CV_Assert(dst.type() == CV_8UC1 && dst.dims == 2);
    const double pi = 3.14159265358979323846;
    if (name == "checkerboard") {
        for (int y = 0; y < dst.rows; ++y) {
            uchar* row = dst.ptr<uchar>(y);
            for (int x = 0; x < dst.cols; ++x) row[x] = ((x / 40 + y / 40) % 2 == 0) ? 220 : 30;
        }
    } else if (name == "stripes") {
        const double c = std::cos(pi / 6), s = std::sin(pi / 6);
        for (int y = 0; y < dst.rows; ++y) {
            uchar* row = dst.ptr<uchar>(y);
            for (int x = 0; x < dst.cols; ++x) row[x] = std::fmod(x * c + y * s, 48.0) < 24.0 ? 200 : 40;
        }
    } else if (name == "discs") {
        std::uint32_t state = 1234;
        auto next = [&state] {
            state = state * 1664525u + 1013904223u;
            return static_cast<double>(state >> 8) / static_cast<double>(1u << 24);
        };
        const double scale = std::min(dst.rows, dst.cols);
        struct Disc { double cx, cy, r; int level; };
        std::vector<Disc> discs;
        for (int i = 0; i < 24; ++i) {
            const double cx = next() * dst.cols, cy = next() * dst.rows, r = (0.02 + 0.10 * next()) * scale;
            discs.push_back(Disc{cx, cy, r, static_cast<int>(next() * 255)});
        }
        for (int y = 0; y < dst.rows; ++y) {
            uchar* row = dst.ptr<uchar>(y);
            for (int x = 0; x < dst.cols; ++x) {
                double v = 60.0 + 60.0 * x / std::max(dst.cols - 1, 1);
                for (const Disc& d : discs) {
                    if ((x - d.cx) * (x - d.cx) + (y - d.cy) * (y - d.cy) <= d.r * d.r) v = d.level;
                }
                row[x] = static_cast<uchar>(std::lround(std::min(255.0, std::max(0.0, v))));
            }
        }
    } else {
        CV_Error(cv::Error::StsBadArg, "unknown pattern '" + name + "' (known: " + pattern_names() + ")");
    }
}

}  // namespace cvzc_tool
