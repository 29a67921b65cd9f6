// Greyscale image input/output for the check tool: OpenCV's imgcodecs when it was built, else a binary PGM
// reader and an uncompressed PNG writer (enough for verify, which reads the outputs back with its own code or
// cv2.imread), and generated test patterns.
#pragma once

#include <opencv2/core.hpp>

#include <string>

namespace cvzc_tool {

/// Reads an 8-bit greyscale image into ``dst`` (allocated with the current default allocator when it does
/// not fit already). With imgcodecs any format it decodes; without, binary PGM (P5, maxval <= 255) only.
/// Throws cv::Exception naming the file and the reason.
void read_gray(const std::string& path, cv::Mat& dst);

/// Writes an 8-bit single-channel image: imgcodecs when built (format from the extension), else PNG.
void write_gray(const std::string& path, const cv::Mat& image);

/// Fills ``dst`` (CV_8UC1, already sized) with a deterministic pattern: "checkerboard" (40 px squares,
/// 220/30), "stripes" (30 degrees, period 48 px, 200/40) or "discs" (discs on a horizontal ramp).
/// Throws cv::Exception for an unknown name.
void fill_pattern(const std::string& name, cv::Mat& dst);

/// "checkerboard, stripes, discs"
const char* pattern_names();

/// True when the tool was built with OpenCV's imgcodecs.
bool have_imgcodecs();

}  // namespace cvzc_tool
