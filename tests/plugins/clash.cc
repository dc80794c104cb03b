// A plugin whose layer type is one the library already has (tests/plugin_test.cc): refused by name.
#include "framework/registry.h"

namespace {

class NotReLU : public obo::Layer {
 public:
  explicit NotReLU(const obo::LayerParameter& p) : Layer(p) {}
  obo::Shapes output_shapes(const obo::Shapes& in) const override { return {in[0]}; }
  void reshape(const obo::Ports&, const obo::Ports&) override {}
  void forward(const obo::Ports&, const obo::Ports&, const obo::Context&) override {}
  void backward(const obo::Ports&, const obo::Ports&) override {}
};

}  // namespace

REGISTER_LAYER("ReLU", NotReLU);
