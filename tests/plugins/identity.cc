// A plugin as a user would write one (tests/plugin_test.cc loads it): one layer, the identity.
#include "framework/registry.h"

namespace {

class Identity : public obo::Layer {
 public:
  explicit Identity(const obo::LayerParameter& p) : Layer(p) { expect_arity(1, 1, 1); }
  obo::Shapes output_shapes(const obo::Shapes& in) const override { return {in[0]}; }
  void reshape(const obo::Ports& in, const obo::Ports& out) override { out[0].value->reshape(in[0].value->shape()); }
  void forward(const obo::Ports& in, const obo::Ports& out, const obo::Context&) override {
    const obo::Tensor x = in[0].value->to_plain();
    std::copy(x.data(), x.data() + x.count(), out[0].value->data());
  }
  void backward(const obo::Ports& in, const obo::Ports& out) override {
    if (in[0].grad) in[0].grad->assign_plain(*out[0].grad);
  }
};

}  // namespace

REGISTER_LAYER("TestPluginIdentity", Identity);
