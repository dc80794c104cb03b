#include "framework/data/idx.h"

#include <fstream>

#include "framework/error.h"

namespace obo {
namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) fail("cannot open '{}'", path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(file), {});
}

uint32_t big_endian(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}

// Checks the magic number and the size the header promises; returns the dimensions.
std::vector<int64_t> header(const std::vector<uint8_t>& bytes, const std::string& path, uint32_t magic,
                            const char* what) {
  const size_t rank = magic & 0xff;
  const size_t header_size = 4 + 4 * rank;
  if (bytes.size() < header_size)
    fail("{}: {} bytes is too short for an IDX {} header ({} bytes)", path, bytes.size(), what, header_size);
  if (big_endian(bytes, 0) != magic)
    fail("{}: magic number 0x{:08x}, expected 0x{:08x} (IDX {})", path, big_endian(bytes, 0), magic, what);
  std::vector<int64_t> dims;
  int64_t payload = 1;
  for (size_t i = 0; i < rank; ++i) {
    dims.push_back(big_endian(bytes, 4 + 4 * i));
    if (dims.back() == 0) fail("{}: dimension {} is 0", path, i);
    payload *= dims.back();
  }
  if (bytes.size() != header_size + static_cast<size_t>(payload))
    fail("{}: the header promises {} bytes of {}, the file holds {} (truncated or not IDX)", path, payload, what,
         bytes.size() - header_size);
  return dims;
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  const auto dims = header(bytes, path, 0x00000803, "images");
  IdxImages images;
  images.count = dims[0];
  images.rows = dims[1];
  images.cols = dims[2];
  images.pixels.assign(bytes.begin() + 16, bytes.end());
  return images;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  header(bytes, path, 0x00000801, "labels");
  return std::vector<uint8_t>(bytes.begin() + 8, bytes.end());
}

}  // namespace obo
