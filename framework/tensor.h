// Tensor: a logical shape (NCHW for images, NC for features, N for labels) over 64-byte-aligned
// float storage. The storage may hold a blocked layout (say oneDNN's nChw16c) chosen by the layer
// that wrote it; to_plain() gives the plain row-major copy a user reads. Tensors know nothing of
// oneDNN: a layout is an object that says how many floats it occupies and converts to and from
// plain, and framework/dnnl_seam.h makes them.
//
//   Tensor t({2, 3, 6, 6});          // plain NCHW, zero-filled
//   t.data()[0] = 1.f;               // plain tensors index as n*C*H*W + c*H*W + h*W + w
//   Tensor p = layer_output.to_plain();
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace obo {

using Shape = std::vector<int64_t>;

// The product of the dimensions; throws if a dimension is negative or the product exceeds 2^61.
int64_t count(const Shape& shape);
std::string to_string(const Shape& shape);  // "(2,64,28,28)"

// How a tensor's elements are stored when not plain row-major. Made by framework/dnnl_seam.h
// (there, a oneDNN memory descriptor); tensors of one layout share the object.
class Layout {
 public:
  virtual ~Layout() = default;
  virtual Shape shape() const = 0;     // the logical shape it stores
  virtual size_t floats() const = 0;   // storage it occupies, padding included, in floats
  // A layout that stores each element quantized, as one byte q whose value is scale() * q (int8
  // inference, framework/quantize.h), says its scale; a float layout 1. Its conversions to and
  // from plain dequantize and quantize.
  virtual float scale() const { return 1; }
  // Copies between the layout at `stored` and plain row-major at `plain`.
  virtual void to_plain(const float* stored, float* plain) const = 0;
  virtual void from_plain(const float* plain, float* stored) const = 0;
};
using LayoutPtr = std::shared_ptr<const Layout>;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape);  // plain layout, zero-filled
  Tensor(const Tensor& other);   // deep copy
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;

  // A tensor over memory owned elsewhere (a parameter's slice of the graph's flat buffer, a
  // gradient's share of a buffer the graph plans), plain unless a layout is given.
  static Tensor view(Shape shape, float* data, LayoutPtr layout = nullptr);
  // A tensor whose storage is placed later by whoever plans memory (the graph, for values that
  // share memory): reshape() sets only its shape and layout, and leaves it without storage until
  // place() points it at size() floats owned elsewhere.
  static Tensor unplaced();
  void place(float* data);
  bool placed_by_caller() const { return unplaced_; }

  // Sets shape and layout (null: plain). Storage is reused when large enough, otherwise
  // reallocated and zero-filled; a view cannot grow; an unplaced tensor loses its placement.
  void reshape(Shape shape, LayoutPtr layout = nullptr);

  const Shape& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }
  size_t rank() const { return shape_.size(); }
  int64_t count() const { return obo::count(shape_); }
  // Floats the layout occupies: count() for plain tensors, more for padded blocked layouts.
  size_t size() const { return size_; }
  bool empty() const { return shape_.empty(); }
  bool plain() const { return layout_ == nullptr; }
  const LayoutPtr& layout() const { return layout_; }

  float* data() { return data_; }
  const float* data() const { return data_; }

  void zero();
  Tensor to_plain() const;              // a plain copy of the logical contents
  void assign_plain(const Tensor& src); // src is plain with this shape; converted to our layout

 private:
  struct Free {
    void operator()(float* p) const;
  };
  Shape shape_;
  LayoutPtr layout_;
  size_t size_ = 0;
  size_t capacity_ = 0;  // floats owned; 0 for a view
  bool unplaced_ = false;  // storage placed by place(), never owned
  std::unique_ptr<float[], Free> owned_;
  float* data_ = nullptr;
};

}  // namespace obo
