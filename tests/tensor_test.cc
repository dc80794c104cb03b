// Tensor storage, views and layouts.
#include <catch2/catch.hpp>

#include <cstdint>

#include "framework/dnnl_seam.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

TEST_CASE("tensors are zeroed, 64-byte aligned and reuse storage", "[tensor]") {
  Tensor t({2, 3, 5, 7});
  CHECK(t.count() == 210);
  CHECK(reinterpret_cast<uintptr_t>(t.data()) % 64 == 0);
  for (int64_t i = 0; i < t.count(); ++i) REQUIRE(t.data()[i] == 0.f);
  const float* before = t.data();
  t.reshape({7, 5, 3, 2});
  CHECK(t.data() == before);
  t.reshape({100, 100});
  CHECK(t.count() == 10000);
  CHECK(to_string(t.shape()) == "(100,100)");
}

TEST_CASE("a blocked layout converts to plain NCHW and back", "[tensor]") {
  const Shape shape{2, 19, 3, 5};  // 19 channels: the 16-channel blocks are padded
  const dnnl::memory::desc blocked(dnn::dims(shape), dnnl::memory::data_type::f32, dnnl::memory::format_tag::nChw16c);
  Tensor t;
  t.reshape(shape, dnn::layout_of(blocked));
  CHECK_FALSE(t.plain());
  CHECK(t.size() == 2u * 32 * 3 * 5);
  const Tensor plain = random_tensor(shape, 3);
  t.assign_plain(plain);
  // Element (n, c, h, w) sits at block c/16, lane c%16.
  const int64_t n = 1, c = 17, h = 2, w = 4;
  CHECK(t.data()[(((n * 2 + c / 16) * 3 + h) * 5 + w) * 16 + c % 16] == plain.data()[((n * 19 + c) * 3 + h) * 5 + w]);
  const Tensor back = t.to_plain();
  CHECK(std::equal(plain.data(), plain.data() + plain.count(), back.data()));
  CHECK(dnn::layout_of(dnn::plain_desc(shape)) == nullptr);  // plain layouts are recorded as null
}

TEST_CASE("tensor errors", "[tensor][errors]") {
  float buffer[6];
  Tensor v = Tensor::view({2, 3}, buffer);
  CHECK_THROWS_WITH(v.reshape({3, 3}), "a view of 6 floats cannot hold shape (3,3)");
  CHECK_THROWS_WITH(Tensor({2, 0}), "tensor dimensions must be positive, got (2,0)");
  Tensor t({2, 3});
  CHECK_THROWS_WITH(t.assign_plain(Tensor({3, 2})), "assign_plain wants a plain tensor of shape (2,3), got (3,2)");
}
