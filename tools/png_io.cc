#include "tools/png_io.h"

#include <png.h>

#include "framework/error.h"

namespace obo::cli {

GrayImage read_png(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str())) fail("{}: {}", path, image.message);
  image.format = PNG_FORMAT_GRAY;
  GrayImage g;
  g.width = image.width;
  g.height = image.height;
  g.pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, g.pixels.data(), 0, nullptr)) fail("{}: {}", path, image.message);
  return g;
}

void write_png(const std::string& path, const GrayImage& g) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(g.width);
  image.height = static_cast<png_uint_32>(g.height);
  image.format = PNG_FORMAT_GRAY;
  if (!png_image_write_to_file(&image, path.c_str(), 0, g.pixels.data(), 0, nullptr))
    fail("cannot write '{}': {}", path, image.message);
}

}  // namespace obo::cli
