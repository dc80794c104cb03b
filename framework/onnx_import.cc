// ONNX import: an ONNX model (ours, or another framework's) as a OneByOne net and its weights.
// The graph is read node by node in its (checked, topological) order; each node becomes a layer,
// is folded away as constant shape arithmetic, or is an error naming the node and what it lacks.
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "framework/checkpoint.h"
#include "framework/error.h"
#include "framework/graph.h"
#include "framework/onnx.h"

namespace obo {
namespace {

// The batch in shape arithmetic: whatever the caller gives, so never a number.
constexpr int64_t kBatch = std::numeric_limits<int64_t>::min();

struct Constant {
  Shape dims;
  std::vector<float> floats;  // FLOAT tensors
  std::vector<int64_t> ints;  // INT64 tensors and folded shapes (kBatch for the batch)
};

// What the layers made so far know of a value: the blob that holds it and its shape (N: kBatch).
struct Value {
  std::string blob;
  Shape shape;
};

class Importer {
 public:
  Importer(const onnx::ModelProto& model, std::string origin) : model_(model), origin_(std::move(origin)) {}
  onebyone::Checkpoint run();

 private:
  [[noreturn]] void refuse(const onnx::NodeProto& node, const std::string& what) const {
    fail("'{}': node '{}' ({}): {}", origin_, node.name(), node.op_type(), what);
  }
  template <typename T, typename Field>
  std::vector<T> values(const onnx::TensorProto& t, const Field& field, int64_t n) const;
  void read_initializers();
  void read_input();
  void import_node(const onnx::NodeProto& node);
  void nchw(const onnx::NodeProto& node, const Value& x) const;
  void identity(const onnx::NodeProto& node, const Value& x);
  void conv(const onnx::NodeProto& node, const Value& x);
  void gemm(const onnx::NodeProto& node, const Value& x);
  void pool(const onnx::NodeProto& node, const Value& x);
  void global_average_pool(const onnx::NodeProto& node, const Value& x);
  void flatten(const onnx::NodeProto& node, const Value& x);
  void concat(const onnx::NodeProto& node, const Value& x);
  void add(const onnx::NodeProto& node, const Value& x);
  void activation(const onnx::NodeProto& node, const Value& x);
  void prelu(const onnx::NodeProto& node, const Value& x);
  void softmax(const onnx::NodeProto& node, const Value& x);
  void lrn(const onnx::NodeProto& node, const Value& x);
  void batch_norm(const onnx::NodeProto& node, const Value& x);
  bool fold(const onnx::NodeProto& node);
  const Value& value(const onnx::NodeProto& node, int i) const;
  const Constant& constant(const onnx::NodeProto& node, int i) const;
  onebyone::LayerParameter& add_layer(const onnx::NodeProto& node, const std::string& type, const Shape& out_shape,
                                      std::vector<std::string> inputs = {});
  void weights(const std::string& layer, std::vector<const Constant*> params, std::vector<const Constant*> buffers = {});
  int64_t int_attribute(const onnx::NodeProto& node, const std::string& name, int64_t otherwise) const;
  float float_attribute(const onnx::NodeProto& node, const std::string& name, float otherwise) const;
  std::vector<int64_t> ints_attribute(const onnx::NodeProto& node, const std::string& name) const;
  // A square window with one stride and one pad on every side: (kernel, stride, pad).
  std::array<int64_t, 3> window(const onnx::NodeProto& node, int64_t kernel_from_weight) const;
  // Names made of letters, digits, '_', '.' and '-', unique among the blobs or the layers.
  static std::string unique_name(const std::string& onnx_name, std::set<std::string>& taken);
  std::string blob_name(const std::string& onnx_name);
  std::string layer_name(const onnx::NodeProto& node);

  const onnx::ModelProto& model_;
  const std::string origin_;
  onebyone::NetParameter net_;
  std::map<std::string, Constant> constants_;
  std::map<std::string, Value> values_;
  std::set<std::string> blob_names_, layer_names_;
  std::string images_;
  Shape input_shape_;
  int64_t batch_ = 1;
  std::map<std::string, std::pair<std::vector<const Constant*>, std::vector<const Constant*>>> weights_;
};

std::string Importer::unique_name(const std::string& onnx_name, std::set<std::string>& taken) {
  std::string name;
  for (char c : onnx_name) name += std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ? c : '_';
  if (name.empty()) name = "value";
  std::string unique = name;
  for (int k = 2; taken.count(unique); ++k) unique = fmt::format("{}_{}", name, k);
  taken.insert(unique);
  return unique;
}

// A value's name, without the decoration PyTorch's exporter adds ("/stem/Conv_output_0" is
// "stem_Conv").
std::string Importer::blob_name(const std::string& onnx_name) {
  std::string name = onnx_name;
  const std::string suffix = "_output_0";
  if (name.size() > suffix.size() + 1 && name[0] == '/' && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
    name = name.substr(1, name.size() - suffix.size() - 1);
  return unique_name(name, blob_names_);
}

// The node's name as exporters write it, made a layer name: ours ("conv1", "conv1/Relu" for a
// fused activation) and PyTorch's ("/features/features.0/Conv", the module's path then the op)
// keep the module's path ("features.0", "conv1_Relu"); a nameless node takes its output's name.
std::string Importer::layer_name(const onnx::NodeProto& node) {
  std::string name = node.name().empty() ? node.output(0) : node.name();
  const std::string op = "/" + node.op_type();
  if (name.size() > op.size() && name.compare(name.size() - op.size(), op.size(), op) == 0 && name[0] == '/')
    name.resize(name.size() - op.size());
  if (const size_t slash = name.rfind('/'); name[0] == '/' && slash != std::string::npos && slash + 1 < name.size())
    name = name.substr(slash + 1);
  return unique_name(name, layer_names_);
}

// The n values of a tensor, from its raw bytes or its typed field, whichever it holds; refused
// unless it holds exactly n.
template <typename T, typename Field>
std::vector<T> Importer::values(const onnx::TensorProto& t, const Field& field, int64_t n) const {
  const bool raw = t.has_raw_data();
  const int64_t held = raw ? static_cast<int64_t>(t.raw_data().size() / sizeof(T)) : field.size();
  if (held != n || (raw && t.raw_data().size() % sizeof(T)))
    fail("'{}': initializer '{}' promises {} values, holds {}", origin_, t.name(), n, held);
  std::vector<T> v(n);
  if (raw) std::memcpy(v.data(), t.raw_data().data(), n * sizeof(T));
  else std::copy(field.begin(), field.end(), v.begin());
  return v;
}

void Importer::read_initializers() {
  for (const onnx::TensorProto& t : model_.graph().initializer()) {
    if (t.data_location() == onnx::TensorProto::EXTERNAL)
      fail("'{}': initializer '{}' keeps its data in an external file, which import does not read", origin_, t.name());
    Constant c;
    int64_t n = 1;
    for (int64_t d : t.dims()) {
      if (d < 0 || (d > 0 && n > (int64_t{1} << 40) / d))
        fail("'{}': initializer '{}' has impossible dimensions", origin_, t.name());
      n *= d;
      c.dims.push_back(d);
    }
    if (t.data_type() == onnx::TensorProto::FLOAT) {
      c.floats = values<float>(t, t.float_data(), n);
    } else if (t.data_type() == onnx::TensorProto::INT64) {
      c.ints = values<int64_t>(t, t.int64_data(), n);
    } else {
      fail("'{}': initializer '{}' is of ONNX type {}; import reads float and int64 tensors", origin_, t.name(),
           onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(t.data_type())));
    }
    constants_[t.name()] = std::move(c);
  }
}

void Importer::read_input() {
  std::vector<const onnx::ValueInfoProto*> inputs;
  for (const onnx::ValueInfoProto& v : model_.graph().input())
    if (!constants_.count(v.name())) inputs.push_back(&v);
  if (inputs.size() != 1)
    fail("'{}': the model has {} inputs besides its weights; import takes nets of one image input", origin_, inputs.size());
  const onnx::ValueInfoProto& v = *inputs[0];
  const auto& type = v.type().tensor_type();
  if (type.elem_type() != onnx::TensorProto::FLOAT || type.shape().dim_size() != 4)
    fail("'{}': input '{}' must be a float (N,C,H,W) tensor", origin_, v.name());
  // The batch the model file will say: the model's, or 64 where it takes any.
  batch_ = type.shape().dim(0).has_dim_value() && type.shape().dim(0).dim_value() > 0 ? type.shape().dim(0).dim_value() : 64;
  input_shape_ = {kBatch};
  for (int i = 1; i < 4; ++i) {
    if (!type.shape().dim(i).has_dim_value() || type.shape().dim(i).dim_value() <= 0)
      fail("'{}': input '{}' must give its channels, height and width as numbers", origin_, v.name());
    input_shape_.push_back(type.shape().dim(i).dim_value());
  }
  images_ = blob_name(v.name());
  values_[v.name()] = {images_, input_shape_};
}

const Value& Importer::value(const onnx::NodeProto& node, int i) const {
  if (i >= node.input_size()) refuse(node, fmt::format("needs an input {}", i));
  const auto it = values_.find(node.input(i));
  if (it == values_.end()) refuse(node, fmt::format("input '{}' is not computed by a layer", node.input(i)));
  return it->second;
}

const Constant& Importer::constant(const onnx::NodeProto& node, int i) const {
  if (i >= node.input_size()) refuse(node, fmt::format("needs an input {}", i));
  const auto it = constants_.find(node.input(i));
  if (it == constants_.end()) refuse(node, fmt::format("input '{}' must be a constant (an initializer)", node.input(i)));
  return it->second;
}

int64_t Importer::int_attribute(const onnx::NodeProto& node, const std::string& name, int64_t otherwise) const {
  for (const auto& a : node.attribute())
    if (a.name() == name) return a.i();
  return otherwise;
}

float Importer::float_attribute(const onnx::NodeProto& node, const std::string& name, float otherwise) const {
  for (const auto& a : node.attribute())
    if (a.name() == name) return a.f();
  return otherwise;
}

std::vector<int64_t> Importer::ints_attribute(const onnx::NodeProto& node, const std::string& name) const {
  for (const auto& a : node.attribute())
    if (a.name() == name) return {a.ints().begin(), a.ints().end()};
  return {};
}

std::array<int64_t, 3> Importer::window(const onnx::NodeProto& node, int64_t kernel_from_weight) const {
  for (const auto& a : node.attribute())
    if (a.name() == "auto_pad" && a.s() != "NOTSET") refuse(node, "auto_pad " + a.s() + " is not supported: give pads");
  const std::vector<int64_t> kernel = ints_attribute(node, "kernel_shape"), strides = ints_attribute(node, "strides"),
                             pads = ints_attribute(node, "pads"), dilations = ints_attribute(node, "dilations");
  const int64_t k = kernel.empty() ? kernel_from_weight : kernel[0];
  const auto all = [](const std::vector<int64_t>& v, int64_t x) {
    return std::all_of(v.begin(), v.end(), [x](int64_t e) { return e == x; });
  };
  if (!all(kernel, k) || k <= 0) refuse(node, "only square windows are supported");
  const int64_t s = strides.empty() ? 1 : strides[0], p = pads.empty() ? 0 : pads[0];
  if (!all(strides, s) || !all(pads, p)) refuse(node, "only one stride and one pad on every side are supported");
  if (!all(dilations, 1)) refuse(node, "dilations are not supported");
  if (int_attribute(node, "ceil_mode", 0) != 0) refuse(node, "ceil_mode 1 is not supported (outputs round down)");
  return {k, s, p};
}

onebyone::LayerParameter& Importer::add_layer(const onnx::NodeProto& node, const std::string& type, const Shape& out_shape,
                                              std::vector<std::string> inputs) {
  if (node.output_size() < 1) refuse(node, "has no output");
  onebyone::LayerParameter* layer = net_.add_layer();
  layer->set_name(layer_name(node));
  layer->set_type(type);
  if (inputs.empty()) inputs.push_back(value(node, 0).blob);
  for (const std::string& in : inputs) layer->add_input(in);
  const std::string out = blob_name(node.output(0));
  layer->add_output(out);
  values_[node.output(0)] = {out, out_shape};
  return *layer;
}

void Importer::weights(const std::string& layer, std::vector<const Constant*> params, std::vector<const Constant*> buffers) {
  weights_[layer] = {std::move(params), std::move(buffers)};
}

// Shape arithmetic on constants (PyTorch's `x.view(x.size(0), -1)`): folded here, so that only
// layers remain. True where the node was folded.
bool Importer::fold(const onnx::NodeProto& node) {
  const std::string& op = node.op_type();
  const auto out = [&](Constant c) { constants_[node.output(0)] = std::move(c); };
  if (op == "Constant") {
    for (const auto& a : node.attribute())
      if (a.name() == "value" && a.t().data_type() == onnx::TensorProto::INT64) {
        Constant c;
        for (int64_t d : a.t().dims()) c.dims.push_back(d);
        if (a.t().has_raw_data()) {
          c.ints.resize(a.t().raw_data().size() / sizeof(int64_t));
          std::memcpy(c.ints.data(), a.t().raw_data().data(), c.ints.size() * sizeof(int64_t));
        } else {
          c.ints.assign(a.t().int64_data().begin(), a.t().int64_data().end());
        }
        out(std::move(c));
        return true;
      }
    refuse(node, "only int64 constants (shapes, indices) are supported");
  }
  if (op == "Shape") {
    Constant c;
    c.ints = value(node, 0).shape;
    c.dims = {static_cast<int64_t>(c.ints.size())};
    out(std::move(c));
    return true;
  }
  const bool all_constant = std::all_of(node.input().begin(), node.input().end(),
                                        [&](const std::string& in) { return constants_.count(in) > 0; });
  if (!all_constant || node.input_size() == 0) return false;
  if (op == "Gather") {
    const Constant &data = constant(node, 0), &index = constant(node, 1);
    if (int_attribute(node, "axis", 0) != 0 || data.dims.size() != 1 || index.ints.size() != 1) refuse(node, "only picks one element of a shape");
    int64_t i = index.ints[0] < 0 ? index.ints[0] + static_cast<int64_t>(data.ints.size()) : index.ints[0];
    if (i < 0 || i >= static_cast<int64_t>(data.ints.size())) refuse(node, "index out of range");
    Constant c;
    c.ints = {data.ints[i]};
    c.dims = index.dims;
    out(std::move(c));
    return true;
  }
  if (op == "Unsqueeze" || op == "Squeeze" || op == "Identity") {
    Constant c = constant(node, 0);
    c.dims = {static_cast<int64_t>(c.ints.size())};
    out(std::move(c));
    return true;
  }
  if (op == "Concat") {
    Constant c;
    for (int i = 0; i < node.input_size(); ++i) {
      const Constant& part = constant(node, i);
      c.ints.insert(c.ints.end(), part.ints.begin(), part.ints.end());
    }
    c.dims = {static_cast<int64_t>(c.ints.size())};
    out(std::move(c));
    return true;
  }
  return false;
}

// One layer per operator: each reads the node's input value `x` and adds its layer.
void Importer::import_node(const onnx::NodeProto& node) {
  if (!node.domain().empty() && node.domain() != "ai.onnx") refuse(node, "is of domain '" + node.domain() + "'");
  if (fold(node)) return;
  using Handler = void (Importer::*)(const onnx::NodeProto&, const Value&);
  static const std::map<std::string, Handler> handlers = {
      {"Identity", &Importer::identity},   {"Dropout", &Importer::identity},
      {"Conv", &Importer::conv},           {"Gemm", &Importer::gemm},
      {"MaxPool", &Importer::pool},        {"AveragePool", &Importer::pool},
      {"GlobalAveragePool", &Importer::global_average_pool},
      {"Flatten", &Importer::flatten},     {"Reshape", &Importer::flatten},
      {"Concat", &Importer::concat},       {"Add", &Importer::add},
      {"Sum", &Importer::add},             {"Relu", &Importer::activation},
      {"Sigmoid", &Importer::activation},  {"Tanh", &Importer::activation},
      {"Softplus", &Importer::activation}, {"LeakyRelu", &Importer::activation},
      {"Elu", &Importer::activation},      {"PRelu", &Importer::prelu},
      {"Softmax", &Importer::softmax},     {"LRN", &Importer::lrn},
      {"BatchNormalization", &Importer::batch_norm},
  };
  const auto it = handlers.find(node.op_type());
  if (it == handlers.end()) refuse(node, "is not an operator import supports");
  (this->*it->second)(node, value(node, 0));
}

void Importer::nchw(const onnx::NodeProto& node, const Value& x) const {
  if (x.shape.size() != 4) refuse(node, "needs an (N,C,H,W) input, got rank " + std::to_string(x.shape.size()));
}

// Inference: Dropout is the identity.
void Importer::identity(const onnx::NodeProto& node, const Value& x) { values_[node.output(0)] = x; }

void Importer::conv(const onnx::NodeProto& node, const Value& x) {
  nchw(node, x);
  const Shape& s = x.shape;
  const Constant& w = constant(node, 1);
  if (w.dims.size() != 4 || w.dims[1] != s[1]) refuse(node, "needs (O,C,k,k) weights over the input's channels");
  if (int_attribute(node, "group", 1) != 1) refuse(node, "grouped convolutions are not supported");
  const auto [k, stride, pad] = window(node, w.dims[2]);
  if (w.dims[2] != k || w.dims[3] != k) refuse(node, "the weights' kernel differs from kernel_shape");
  const bool bias = node.input_size() > 2 && !node.input(2).empty();
  const std::string type = k == 1 && pad == 0 ? "Conv1x1" : k == 3 && pad == 1 ? "Conv3x3" : "Conv";
  auto& layer = add_layer(node, type, {kBatch, w.dims[0], (s[2] + 2 * pad - k) / stride + 1, (s[3] + 2 * pad - k) / stride + 1});
  auto* c = layer.mutable_conv();
  c->set_num_output(static_cast<int>(w.dims[0]));
  if (type == "Conv") {
    c->set_kernel_size(static_cast<int>(k));
    c->set_pad(static_cast<int>(pad));
  }
  if (stride != 1) c->set_stride(static_cast<int>(stride));
  if (!bias) c->set_bias_term(false);
  weights(layer.name(), bias ? std::vector<const Constant*>{&w, &constant(node, 2)} : std::vector<const Constant*>{&w});
}

void Importer::gemm(const onnx::NodeProto& node, const Value& x) {
  const Shape& s = x.shape;
  const Constant& w = constant(node, 1);
  if (s.size() != 2) refuse(node, "needs an (N,K) input (Flatten first)");
  if (int_attribute(node, "transA", 0) != 0 || float_attribute(node, "alpha", 1) != 1 || float_attribute(node, "beta", 1) != 1)
    refuse(node, "only y = x W^T + b (transA 0, alpha and beta 1) is supported");
  const bool transposed = int_attribute(node, "transB", 0) == 1;
  if (w.dims.size() != 2 || w.dims[transposed ? 1 : 0] != s[1]) refuse(node, "the weights do not match the input's width");
  const int64_t outputs = w.dims[transposed ? 0 : 1];
  const bool bias = node.input_size() > 2 && !node.input(2).empty();
  if (bias && constant(node, 2).floats.size() != static_cast<size_t>(outputs)) refuse(node, "the bias must have one value per output");
  auto& layer = add_layer(node, "FC", {kBatch, outputs});
  layer.mutable_fc()->set_num_output(static_cast<int>(outputs));
  if (!bias) layer.mutable_fc()->set_bias_term(false);
  const Constant* weight = &w;
  if (!transposed) {  // ours is (O, K)
    Constant t;
    t.dims = {outputs, s[1]};
    t.floats.resize(w.floats.size());
    for (int64_t i = 0; i < s[1]; ++i)
      for (int64_t o = 0; o < outputs; ++o) t.floats[o * s[1] + i] = w.floats[i * outputs + o];
    weight = &(constants_[node.output(0) + "#weight"] = std::move(t));
  }
  weights(layer.name(), bias ? std::vector<const Constant*>{weight, &constant(node, 2)} : std::vector<const Constant*>{weight});
}

void Importer::pool(const onnx::NodeProto& node, const Value& x) {
  nchw(node, x);
  const Shape& s = x.shape;
  if (node.output_size() > 1) refuse(node, "its Indices output is not supported");
  const auto [k, stride, pad] = window(node, 0);
  const bool max = node.op_type() == "MaxPool";
  auto& layer = add_layer(node, max ? "MaxPool" : "AvgPool",
                          {kBatch, s[1], (s[2] + 2 * pad - k) / stride + 1, (s[3] + 2 * pad - k) / stride + 1});
  auto* p = layer.mutable_pool();
  p->set_kernel_size(static_cast<int>(k));
  if (stride != k) p->set_stride(static_cast<int>(stride));
  if (pad) p->set_pad(static_cast<int>(pad));
  if (!max && int_attribute(node, "count_include_pad", 0)) p->set_count_include_pad(true);
}

void Importer::global_average_pool(const onnx::NodeProto& node, const Value& x) {
  nchw(node, x);
  add_layer(node, "GlobalAvgPool", {kBatch, x.shape[1], 1, 1});
}

// Flatten from axis 1, or a Reshape to (N, features): PyTorch's x.view(x.size(0), -1).
void Importer::flatten(const onnx::NodeProto& node, const Value& x) {
  const Shape& s = x.shape;
  int64_t features = 1;
  for (size_t i = 1; i < s.size(); ++i) features *= s[i];
  if (node.op_type() == "Flatten" && int_attribute(node, "axis", 1) != 1) refuse(node, "only axis 1 is supported");
  if (node.op_type() == "Reshape") {
    const std::vector<int64_t>& to = constant(node, 1).ints;
    const bool batch_first = to.size() == 2 && (to[0] == kBatch || to[0] == 0 || to[0] == -1);
    if (!batch_first || (to[1] != -1 && to[1] != features)) refuse(node, "only a reshape to (N, features) is supported");
  }
  if (s.size() == 2) values_[node.output(0)] = x;
  else add_layer(node, "Flatten", {kBatch, features});
}

void Importer::concat(const onnx::NodeProto& node, const Value& x) {
  if (int_attribute(node, "axis", 0) != 1) refuse(node, "only axis 1 (channels) is supported");
  std::vector<std::string> inputs;
  Shape out = x.shape;
  out[1] = 0;
  for (int i = 0; i < node.input_size(); ++i) {
    inputs.push_back(value(node, i).blob);
    out[1] += value(node, i).shape[1];
  }
  add_layer(node, "Concat", out, inputs);
}

void Importer::add(const onnx::NodeProto& node, const Value& x) {
  std::vector<std::string> inputs;
  for (int i = 0; i < node.input_size(); ++i) {
    if (value(node, i).shape != x.shape) refuse(node, "only adds values of one shape");
    inputs.push_back(value(node, i).blob);
  }
  if (inputs.size() < 2) refuse(node, "needs two inputs or more");
  add_layer(node, "Add", x.shape, inputs);
}

void Importer::activation(const onnx::NodeProto& node, const Value& x) {
  const std::string& op = node.op_type();
  if (op == "LeakyRelu")
    add_layer(node, "LeakyReLU", x.shape).mutable_leaky_relu()->set_negative_slope(float_attribute(node, "alpha", 0.01f));
  else if (op == "Elu")
    add_layer(node, "ELU", x.shape).mutable_elu()->set_alpha(float_attribute(node, "alpha", 1));
  else
    add_layer(node, op == "Relu" ? "ReLU" : op, x.shape);  // Sigmoid, Tanh, Softplus: the same names
}

void Importer::prelu(const onnx::NodeProto& node, const Value& x) {
  const Constant& slope = constant(node, 1);
  if (x.shape.size() < 2 || static_cast<int64_t>(slope.floats.size()) != x.shape[1])
    refuse(node, "only one slope per channel is supported");
  weights(add_layer(node, "PReLU", x.shape).name(), {&slope});
}

void Importer::softmax(const onnx::NodeProto& node, const Value& x) {
  const int64_t axis = int_attribute(node, "axis", -1);
  if (axis != 1 && !(x.shape.size() == 2 && axis == -1)) refuse(node, "only a softmax over the channels (axis 1) is supported");
  add_layer(node, "Softmax", x.shape);
}

void Importer::lrn(const onnx::NodeProto& node, const Value& x) {
  nchw(node, x);
  auto* lrn = add_layer(node, "LRN", x.shape).mutable_lrn();
  lrn->set_local_size(static_cast<int>(int_attribute(node, "size", 0)));
  lrn->set_alpha(float_attribute(node, "alpha", 1e-4f));
  lrn->set_beta(float_attribute(node, "beta", 0.75f));
  lrn->set_k(float_attribute(node, "bias", 1));
}

void Importer::batch_norm(const onnx::NodeProto& node, const Value& x) {
  const Shape& s = x.shape;
  if (s.size() != 2 && s.size() != 4) refuse(node, "needs an (N,C) or (N,C,H,W) input");
  if (int_attribute(node, "training_mode", 0) != 0 || node.output_size() > 1) refuse(node, "training mode is not supported");
  std::vector<const Constant*> c;  // scale, bias, mean, variance
  for (int i = 1; i <= 4; ++i) {
    c.push_back(&constant(node, i));
    if (static_cast<int64_t>(c.back()->floats.size()) != s[1]) refuse(node, "needs one value per channel in each input");
  }
  auto& layer = add_layer(node, "BatchNorm", s);
  layer.mutable_batch_norm()->set_epsilon(float_attribute(node, "epsilon", 1e-5f));
  weights(layer.name(), {c[0], c[1]}, {c[2], c[3]});
}

onebyone::Checkpoint Importer::run() {
  read_initializers();
  read_input();
  for (const onnx::NodeProto& node : model_.graph().node()) import_node(node);
  if (model_.graph().output_size() != 1) fail("'{}': the model has {} outputs; import takes nets of one", origin_, model_.graph().output_size());
  const std::string& output = model_.graph().output(0).name();
  if (!values_.count(output)) fail("'{}': output '{}' is not computed by a layer", origin_, output);
  // The class scores the loss reads: before a final softmax, which the loss computes itself.
  std::string scores = values_.at(output).blob;
  if (net_.layer_size() > 0 && net_.layer(net_.layer_size() - 1).type() == "Softmax" &&
      net_.layer(net_.layer_size() - 1).output(0) == scores) {
    scores = net_.layer(net_.layer_size() - 1).input(0);
    net_.mutable_layer()->RemoveLast();
  }

  onebyone::NetParameter net;
  net.set_name(model_.graph().name().empty() ? "imported" : model_.graph().name());
  onebyone::LayerParameter* input = net.add_layer();
  input->set_name(unique_name("data", layer_names_));
  input->set_type("Input");
  input->add_output(images_);
  input->add_output(blob_name("label"));
  auto* shape = input->mutable_input_param()->add_shape();
  shape->add_dim(batch_);
  for (int i = 1; i < 4; ++i) shape->add_dim(input_shape_[i]);
  input->mutable_input_param()->add_shape()->add_dim(batch_);
  for (const auto& layer : net_.layer()) *net.add_layer() = layer;
  for (const auto& [name, type] : {std::pair{"loss", "SoftmaxCrossEntropy"}, std::pair{"accuracy", "Accuracy"}}) {
    onebyone::LayerParameter* head = net.add_layer();
    head->set_name(unique_name(name, layer_names_));
    head->set_type(type);
    head->add_input(scores);
    head->add_input(input->output(1));
    head->add_output(blob_name(name));
  }

  // The weights, each checked against the shape the layer declares (in a graph of one image:
  // only the layers' parameters are read).
  Graph g(at_batch(net, 1));
  for (size_t i = 0; i < g.num_layers(); ++i) {
    Layer& layer = g.layer(i);
    const auto it = weights_.find(layer.name());
    const std::vector<const Constant*> none;
    const auto& [params, buffers] = it == weights_.end() ? std::pair{none, none} : it->second;
    if (params.size() != layer.params().size() || buffers.size() != layer.buffers().size())
      fail("'{}': layer '{}' needs {} weights, the model gives {}", origin_, layer.name(), layer.params().size(), params.size());
    for (size_t k = 0; k < params.size(); ++k) {
      Param& p = layer.params()[k];
      if (static_cast<int64_t>(params[k]->floats.size()) != count(p.shape))
        fail("'{}': {} needs {} values {}, the model gives {}", origin_, p.name, count(p.shape), to_string(p.shape),
             params[k]->floats.size());
      std::memcpy(p.value.data(), params[k]->floats.data(), params[k]->floats.size() * sizeof(float));
    }
    for (size_t k = 0; k < buffers.size(); ++k) {
      Buffer& b = layer.buffers()[k];
      if (static_cast<int64_t>(buffers[k]->floats.size()) != count(b.shape))
        fail("'{}': {} needs {} values, the model gives {}", origin_, b.name, count(b.shape), buffers[k]->floats.size());
      std::memcpy(b.value.data(), buffers[k]->floats.data(), buffers[k]->floats.size() * sizeof(float));
    }
  }
  onebyone::Checkpoint checkpoint;
  *checkpoint.mutable_net() = net;
  store_params(g, &checkpoint);
  return checkpoint;
}

}  // namespace

onebyone::Checkpoint import_onnx(const std::string& bytes, const std::string& origin) {
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) fail("'{}' is not an ONNX model (it does not parse as onnx.ModelProto)", origin);
  int64_t opset = 0;
  for (const auto& o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
  if (opset < 11 || opset > 17) fail("'{}' uses ONNX opset {}; import reads opsets 11 to 17", origin, opset);
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    fail("'{}' is not a valid ONNX model (ONNX's checker: {})", origin, e.what());
  }
  return Importer(model, origin).run();
}

}  // namespace obo
