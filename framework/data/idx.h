// The IDX format of the MNIST files: a big-endian header (magic, dimensions) and raw bytes.
// Readers validate the magic number, the dimensions and the exact file size, so a truncated or
// foreign file is a clear error naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace obo {

struct IdxImages {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols, row-major
};

IdxImages read_idx_images(const std::string& path);  // magic 0x00000803
std::vector<uint8_t> read_idx_labels(const std::string& path);  // magic 0x00000801
// The same from a file's bytes; `origin` names it in errors.
IdxImages parse_idx_images(const std::string& bytes, const std::string& origin);
std::vector<uint8_t> parse_idx_labels(const std::string& bytes, const std::string& origin);

}  // namespace obo
