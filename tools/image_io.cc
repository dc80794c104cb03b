#include "tools/image_io.h"

#include <png.h>

#include <cctype>

#include "framework/error.h"
#include "framework/io.h"

namespace obo::cli {
namespace {

void check_size(int64_t width, int64_t height, const std::string& origin) {
  if (width <= 0 || height <= 0 || width > kMaxImageSide || height > kMaxImageSide)
    fail("{}: a {}x{} image; images must be 1 to {} pixels on each side", origin, width, height, kMaxImageSide);
}

// PGM (netpbm): "P5" or "P2", width, height, maxval, separated by whitespace and # comments,
// then the pixels: one byte each (P5) or decimal numbers (P2).
GrayImage decode_pgm(const std::string& bytes, const std::string& origin) {
  size_t at = 0;
  auto token = [&]() -> std::string {
    while (at < bytes.size()) {
      if (bytes[at] == '#') {
        while (at < bytes.size() && bytes[at] != '\n') ++at;
      } else if (std::isspace(static_cast<unsigned char>(bytes[at]))) {
        ++at;
      } else {
        break;
      }
    }
    const size_t start = at;
    while (at < bytes.size() && !std::isspace(static_cast<unsigned char>(bytes[at])) && bytes[at] != '#') ++at;
    return bytes.substr(start, at - start);
  };
  auto number = [&](const char* what) -> int64_t {
    const std::string t = token();
    if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos)
      fail("{}: malformed PGM: {} is '{}', not a number", origin, what, t);
    return std::stoll(t);
  };
  const std::string magic = token();
  if (magic != "P5" && magic != "P2") fail("{}: not a PGM image (magic '{}')", origin, magic);
  GrayImage g;
  g.width = number("the width");
  g.height = number("the height");
  const int64_t maxval = number("maxval");
  check_size(g.width, g.height, origin);
  if (maxval <= 0 || maxval > 255) fail("{}: PGM maxval {}: only 8-bit grey (maxval 1 to 255) is read", origin, maxval);
  g.pixels.resize(static_cast<size_t>(g.width * g.height));
  if (magic == "P5") {
    ++at;  // the single whitespace after maxval
    if (bytes.size() < at + g.pixels.size())
      fail("{}: truncated PGM: {} bytes of pixels for {}x{}", origin, bytes.size() - std::min(at, bytes.size()), g.width,
           g.height);
    std::copy(bytes.begin() + static_cast<std::ptrdiff_t>(at),
              bytes.begin() + static_cast<std::ptrdiff_t>(at + g.pixels.size()), g.pixels.begin());
  } else {
    for (auto& p : g.pixels) {
      const int64_t v = number("a pixel");
      if (v > maxval) fail("{}: PGM pixel {} is above maxval {}", origin, v, maxval);
      p = static_cast<uint8_t>(v);
    }
  }
  if (maxval != 255)
    for (auto& p : g.pixels) p = static_cast<uint8_t>(p * 255 / maxval);
  return g;
}

GrayImage decode_png(const std::string& bytes, const std::string& origin) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) fail("{}: {}", origin, image.message);
  const int64_t width = image.width, height = image.height;
  if (width <= 0 || height <= 0 || width > kMaxImageSide || height > kMaxImageSide) {
    png_image_free(&image);
    check_size(width, height, origin);
  }
  image.format = PNG_FORMAT_GRAY;
  GrayImage g;
  g.width = width;
  g.height = height;
  g.pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, g.pixels.data(), 0, nullptr)) fail("{}: {}", origin, image.message);
  return g;
}

}  // namespace

GrayImage decode_image(const std::string& bytes, const std::string& origin) {
  if (bytes.size() >= 8 && png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) == 0)
    return decode_png(bytes, origin);
  if (bytes.size() >= 2 && bytes[0] == 'P' && (bytes[1] == '5' || bytes[1] == '2')) return decode_pgm(bytes, origin);
  fail("{}: neither a PNG nor an 8-bit PGM image", origin);
}

GrayImage read_image(const std::string& path) { return decode_image(read_file(path, kMaxImageBytes, "image"), path); }

void write_png(const std::string& path, const GrayImage& g) {
  write_file_with(path, [&](const std::string& temporary) {
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    image.width = static_cast<png_uint_32>(g.width);
    image.height = static_cast<png_uint_32>(g.height);
    image.format = PNG_FORMAT_GRAY;
    if (!png_image_write_to_file(&image, temporary.c_str(), 0, g.pixels.data(), 0, nullptr))
      fail("cannot write '{}': {}", path, image.message);
  });
}

}  // namespace obo::cli
