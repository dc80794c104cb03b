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
    for (const auto& shape : p.input_param().shape())
      for (int64_t d : shape.dim())
        if (d <= 0) error("output shape dimensions must be positive, got {}", d);
  }

  void setup(const Ports&, const Ports& out) override {
    for (size_t i = 0; i < out.size(); ++i) {
      const auto& dims = config().input_param().shape(static_cast<int>(i)).dim();
      out[i].value->reshape(Shape(dims.begin(), dims.end()));
    }
  }
  // Shapes are the caller's (set in setup or by Graph::reshape); data is the caller's too.
  void reshape(const Ports&, const Ports&) override {}
  void forward(const Ports&, const Ports&, const Context&) override {}
  void backward(const Ports&, const Ports&) override {}
};

}  // namespace

REGISTER_LAYER("Input", InputLayer);

}  // namespace obo
