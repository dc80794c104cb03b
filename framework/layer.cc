#include "framework/layer.h"

#include <cmath>

namespace obo {

Layer::Layer(const LayerParameter& config) : config_(config) {}

size_t Layer::add_param(const std::string& suffix, Shape shape, const onebyone::FillerParameter& filler) {
  const size_t index = params_.size();
  Param p;
  p.name = name() + "." + suffix;
  p.shape = std::move(shape);
  p.filler = filler;
  count(p.shape);  // throws if its size overflows
  if (!(filler.std() >= 0 && std::isfinite(filler.std()) && std::isfinite(filler.value())))
    error("the filler of {} needs a finite std >= 0 and a finite value, got std {} and value {}", p.name, filler.std(),
          filler.value());
  if (static_cast<int>(index) < config_.param_size()) {
    p.lr_mult = config_.param(index).lr_mult();
    p.decay_mult = config_.param(index).decay_mult();
    if (!(p.lr_mult >= 0 && std::isfinite(p.lr_mult) && p.decay_mult >= 0 && std::isfinite(p.decay_mult)))
      error("param {} ({}) needs finite lr_mult and decay_mult >= 0, got {} and {}", index, p.name, p.lr_mult,
            p.decay_mult);
  }
  params_.push_back(std::move(p));
  return index;
}

size_t Layer::add_buffer(const std::string& suffix, Shape shape, float initial) {
  count(shape);  // throws if its size overflows
  buffers_.push_back({name() + "." + suffix, std::move(shape), initial, Tensor()});
  return buffers_.size() - 1;
}

std::string Layer::fused() const {
  std::vector<std::string> fused;
  if (concatenation_) fused.push_back(concatenation_->type());
  if (post_op_) fused.push_back(post_op_->name);
  return fmt::format("{}", fmt::join(fused, ", "));
}

Shape Layer::input_shape(const Shapes& in) const {
  return concatenation_ ? concatenation_->output_shapes(in)[0] : in.at(0);
}

bool Layer::concatenation_to_onnx(OnnxGraph& onnx, std::vector<OnnxValue>& in) const {
  if (!concatenation_) return true;
  Shapes shapes;
  for (const OnnxValue& x : in) shapes.push_back(x.shape);
  // Where several readers absorbed it, the first writes the join and the others read it.
  std::string& name = onnx.written(concatenation_->name());
  const std::vector<OnnxValue> joined{{name.empty() ? onnx.temporary(concatenation_->name()) : name, input_shape(shapes)}};
  if (name.empty()) {
    if (!concatenation_->to_onnx(onnx, in, joined)) return false;
    name = joined[0].name;
  }
  in = joined;
  return true;
}

std::string Layer::description() const {
  return (concatenation_ ? concatenation_->type() + "+" : "") + type() + (post_op_ ? "+" + post_op_->name : "");
}

void Layer::expect_arity(int min_inputs, int max_inputs, int outputs) const {
  const int n_in = config_.input_size();
  if (n_in < min_inputs || n_in > max_inputs) {
    if (min_inputs == max_inputs) error("expects {} input(s), got {}", min_inputs, n_in);
    error("expects {} to {} inputs, got {}", min_inputs, max_inputs, n_in);
  }
  if (config_.output_size() != outputs) error("expects {} output(s), got {}", outputs, config_.output_size());
}

}  // namespace obo
