// Images in and out of the tool: 8-bit greyscale PGM (P5 binary, P2 text) and PNG (any colour
// type, converted to grey through libpng's simplified API). Reading takes regular files of at
// most 64 MB holding at most 8192 x 8192 pixels, and checks both before allocating anything.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace obo::cli {

struct GrayImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // row-major
};

constexpr int64_t kMaxImageSide = 8192;
constexpr int64_t kMaxImageBytes = int64_t{64} << 20;

// A PGM or a PNG, told apart by their first bytes (not by the file name). `origin` names the
// image in errors.
GrayImage decode_image(const std::string& bytes, const std::string& origin);
GrayImage read_image(const std::string& path);
// Atomically (framework/io.h): a reader never sees half a picture.
void write_png(const std::string& path, const GrayImage& image);

}  // namespace obo::cli
