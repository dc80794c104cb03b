// 8-bit greyscale PNG files through libpng's simplified API.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace obo::cli {

struct GrayImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // row-major
};

GrayImage read_png(const std::string& path);  // any PNG, converted to grey
void write_png(const std::string& path, const GrayImage& image);

}  // namespace obo::cli
