#include "framework/data/idx.h"

#include "framework/error.h"
#include "framework/io.h"

namespace obo {
namespace {

constexpr int64_t kIdxLimit = int64_t{4} << 30;  // 4 GB: MNIST's largest file is 47 MB

uint32_t big_endian(const std::string& b, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(b[at + i])); };
  return byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
}

// Checks the magic number and the size the header promises; returns the dimensions.
std::vector<int64_t> header(const std::string& bytes, const std::string& path, uint32_t magic,
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
    if (__builtin_mul_overflow(payload, dims.back(), &payload) || payload > kIdxLimit)
      fail("{}: the header's dimensions promise more than {} bytes", path, kIdxLimit);
  }
  if (bytes.size() != header_size + static_cast<size_t>(payload))
    fail("{}: the header promises {} bytes of {}, the file holds {} (truncated or not IDX)", path, payload, what,
         bytes.size() - header_size);
  return dims;
}

}  // namespace

IdxImages read_idx_images(const std::string& path) { return parse_idx_images(read_file(path, kIdxLimit + 16, "IDX file"), path); }

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  return parse_idx_labels(read_file(path, kIdxLimit + 8, "IDX file"), path);
}

IdxImages parse_idx_images(const std::string& bytes, const std::string& path) {
  const auto dims = header(bytes, path, 0x00000803, "images");
  IdxImages images;
  images.count = dims[0];
  images.rows = dims[1];
  images.cols = dims[2];
  images.pixels.assign(bytes.begin() + 16, bytes.end());
  return images;
}

std::vector<uint8_t> parse_idx_labels(const std::string& bytes, const std::string& path) {
  header(bytes, path, 0x00000801, "labels");
  return std::vector<uint8_t>(bytes.begin() + 8, bytes.end());
}

}  // namespace obo
