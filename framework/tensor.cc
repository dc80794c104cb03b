#include "framework/tensor.h"

#include <cstdlib>
#include <cstring>

#include "framework/error.h"

namespace obo {

int64_t count(const Shape& shape) {
  // At most 2^61 elements, so that a size in bytes fits in 64 bits too.
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > (int64_t{1} << 61))
      fail("shape {} {}", to_string(shape), d < 0 ? "has a negative dimension" : "has more than 2^61 elements");
  return n;
}

std::string to_string(const Shape& shape) { return fmt::format("({})", fmt::join(shape, ",")); }

void Tensor::Free::operator()(float* p) const { std::free(p); }

Tensor::Tensor(Shape shape) { reshape(std::move(shape)); }

Tensor::Tensor(const Tensor& other) { *this = other; }

Tensor& Tensor::operator=(const Tensor& other) {
  if (this == &other) return *this;
  reshape(other.shape_, other.layout_);
  if (size_ > 0) std::memcpy(data_, other.data_, size_ * sizeof(float));
  return *this;
}

Tensor Tensor::view(Shape shape, float* data, LayoutPtr layout) {
  Tensor t;
  t.size_ = layout ? layout->floats() : static_cast<size_t>(obo::count(shape));
  t.shape_ = std::move(shape);
  t.layout_ = std::move(layout);
  t.data_ = data;
  return t;
}

Tensor Tensor::unplaced() {
  Tensor t;
  t.unplaced_ = true;
  return t;
}

void Tensor::place(float* data) {
  if (!unplaced_) fail("place() is for tensors made by Tensor::unplaced()");
  data_ = data;
}

void Tensor::reshape(Shape shape, LayoutPtr layout) {
  for (int64_t d : shape)
    if (d <= 0) fail("tensor dimensions must be positive, got {}", to_string(shape));
  if (layout && layout->shape() != shape)
    fail("layout of shape {} given for a tensor of shape {}", to_string(layout->shape()), to_string(shape));
  const size_t size = layout ? layout->floats() : static_cast<size_t>(obo::count(shape));
  const bool is_view = data_ != nullptr && !owned_;
  if (unplaced_) {
    data_ = nullptr;
  } else if (size > capacity_) {
    if (is_view) fail("a view of {} floats cannot hold shape {}", size_, to_string(shape));
    // 64-byte alignment: a cache line, and what oneDNN's AVX-512 kernels load best from.
    const size_t bytes = (size * sizeof(float) + 63) / 64 * 64;
    owned_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!owned_) fail("out of memory allocating {} bytes for a tensor of shape {}", bytes,
                      to_string(shape));
    std::memset(owned_.get(), 0, bytes);
    capacity_ = size;
    data_ = owned_.get();
  }
  shape_ = std::move(shape);
  layout_ = std::move(layout);
  size_ = size;
}

void Tensor::zero() {
  if (size_ > 0) std::memset(data_, 0, size_ * sizeof(float));
}

Tensor Tensor::to_plain() const {
  Tensor out(shape_);
  if (plain()) {
    if (size_ > 0) std::memcpy(out.data_, data_, size_ * sizeof(float));
  } else {
    layout_->to_plain(data_, out.data_);
  }
  return out;
}

void Tensor::assign_plain(const Tensor& src) {
  if (!src.plain() || src.shape() != shape_)
    fail("assign_plain wants a plain tensor of shape {}, got {}", to_string(shape_),
         to_string(src.shape()));
  if (plain()) {
    std::memcpy(data_, src.data_, size_ * sizeof(float));
  } else {
    layout_->from_plain(src.data_, data_);
  }
}

}  // namespace obo
