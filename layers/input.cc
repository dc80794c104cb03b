// Input: the graph's entry points. Its outputs hold whatever the caller writes into them (a batch
// of images, its labels); input_param gives their initial shapes, Graph::reshape changes them.
//
//   layer { name: "data" type: "Input" output: "data" output: "label"
//           input_param { shape { dim: 128 dim: 1 dim: 28 dim: 28 } shape { dim: 128 } } }
#include "framework/registry.h"

namespace obo {
namespace {

class InputLayer : public Layer {
 public:
  explicit InputLayer(const LayerParameter& p) : Layer(p) {
    if (p.input_size() != 0) error("takes no inputs, got {}", p.input_size());
    if (p.output_size() == 0) error("needs at least one output");
    if (p.input_param().shape_size() != p.output_size())
      error("gives {} shapes for {} outputs", p.input_param().shape_size(), p.output_size());
    for (int i = 0; i < p.output_size(); ++i) {
      const auto& dims = p.input_param().shape(i).dim();
      if (dims.empty()) error("shape {} (of '{}') has no dimensions", i, p.output(i));
      for (int64_t d : dims)
        if (d <= 0) error("shape {} (of '{}') has dimension {}: dimensions must be positive", i, p.output(i), d);
    }
  }

  Role role() const override { return Role::kInput; }

  Shapes output_shapes(const Shapes&) const override {
    Shapes shapes;
    for (const auto& shape : config().input_param().shape()) shapes.emplace_back(shape.dim().begin(), shape.dim().end());
    return shapes;
  }
  // The graph shapes the outputs (from output_shapes() or from its caller); data is the caller's.
  void reshape(const Ports&, const Ports&) override {}
  void forward(const Ports&, const Ports&, const Context&) override {}
  void backward(const Ports&, const Ports&) override {}
};

}  // namespace

REGISTER_LAYER("Input", InputLayer);

}  // namespace obo
