#include "framework/onnx.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cmath>
#include <map>
#include <set>

#include "framework/error.h"
#include "framework/inference.h"
#include "framework/post_op.h"
#include "framework/trainer.h"

namespace obo {

struct OnnxGraph::Impl {
  onnx::GraphProto graph;
  std::set<std::string> names;  // every value's, so that temporary() never takes one
  std::map<std::string, std::string> written;  // by layer name (OnnxGraph::written)
};

OnnxGraph::OnnxGraph() : impl_(std::make_unique<Impl>()) {}
OnnxGraph::~OnnxGraph() = default;

void OnnxGraph::node(const std::string& op, const std::vector<std::string>& inputs,
                     const std::vector<std::string>& outputs, const std::vector<Attribute>& attributes) {
  onnx::NodeProto* n = impl_->graph.add_node();
  n->set_op_type(op);
  for (const std::string& x : inputs) n->add_input(x);
  for (const std::string& y : outputs) {
    n->add_output(y);
    impl_->names.insert(y);
  }
  for (const auto& [name, value] : attributes) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    if (const auto* i = std::get_if<int64_t>(&value)) {
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(*i);
    } else if (const auto* f = std::get_if<float>(&value)) {
      a->set_type(onnx::AttributeProto::FLOAT);
      a->set_f(*f);
    } else if (const auto* s = std::get_if<std::string>(&value)) {
      a->set_type(onnx::AttributeProto::STRING);
      a->set_s(*s);
    } else {
      a->set_type(onnx::AttributeProto::INTS);
      for (int64_t v : std::get<std::vector<int64_t>>(value)) a->add_ints(v);
    }
  }
}

std::string OnnxGraph::constant(const std::string& name, const Shape& shape, const float* data) {
  onnx::TensorProto* t = impl_->graph.add_initializer();
  t->set_name(temporary(name));
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : shape) t->add_dims(d);
  t->set_raw_data(data, count(shape) * sizeof(float));  // little-endian, as ONNX's raw_data is
  return t->name();
}

std::string OnnxGraph::constant(const std::string& name, const std::vector<int64_t>& values) {
  onnx::TensorProto* t = impl_->graph.add_initializer();
  t->set_name(temporary(name));
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) t->add_int64_data(v);
  return t->name();
}

std::string OnnxGraph::temporary(const std::string& base) {
  std::string name = base;
  for (int k = 2; impl_->names.count(name); ++k) name = fmt::format("{}_{}", base, k);
  impl_->names.insert(name);
  return name;
}

std::string& OnnxGraph::written(const std::string& layer) { return impl_->written[layer]; }

bool OnnxGraph::function(const PostOp& f, const std::string& x, const std::string& y) {
  using F = PostOp::Function;
  const auto scalar = [&](const char* what, float v) { return constant(y + "/" + what, {}, &v); };
  switch (f.function) {
    case F::kRelu:
      if (f.alpha == 0) node("Relu", {x}, {y});
      else node("LeakyRelu", {x}, {y}, {{"alpha", f.alpha}});
      return true;
    case F::kElu: node("Elu", {x}, {y}, {{"alpha", f.alpha}}); return true;
    case F::kTanh: node("Tanh", {x}, {y}); return true;
    case F::kSigmoid: node("Sigmoid", {x}, {y}); return true;
    case F::kSoftplus: node("Softplus", {x}, {y}); return true;
    case F::kAbs: node("Abs", {x}, {y}); return true;
    case F::kSqrt: node("Sqrt", {x}, {y}); return true;
    case F::kExp: node("Exp", {x}, {y}); return true;
    case F::kLog: node("Log", {x}, {y}); return true;
    case F::kSquare: node("Mul", {x, x}, {y}); return true;
    case F::kSwish: {  // x * sigmoid(alpha * x)
      const std::string ax = f.alpha == 1 ? x : temporary(y + "/ax"), s = temporary(y + "/sigmoid");
      if (f.alpha != 1) node("Mul", {x, scalar("alpha", f.alpha)}, {ax});
      node("Sigmoid", {ax}, {s});
      node("Mul", {x, s}, {y});
      return true;
    }
    case F::kMish: {  // x * tanh(softplus(x))
      const std::string sp = temporary(y + "/softplus"), t = temporary(y + "/tanh");
      node("Softplus", {x}, {sp});
      node("Tanh", {sp}, {t});
      node("Mul", {x, t}, {y});
      return true;
    }
    case F::kHardswish: {  // x * clamp(x + 3, 0, 6) / 6 = x * HardSigmoid(x; 1/6, 1/2)
      const std::string h = temporary(y + "/hardsigmoid");
      node("HardSigmoid", {x}, {h}, {{"alpha", 1.f / 6}, {"beta", 0.5f}});
      node("Mul", {x, h}, {y});
      return true;
    }
    case F::kGelu: {  // x * (1 + erf(x / sqrt 2)) / 2
      const std::string s = temporary(y + "/scaled"), e = temporary(y + "/erf"), p = temporary(y + "/plus1"),
                        h = temporary(y + "/half");
      node("Mul", {x, scalar("rsqrt2", static_cast<float>(M_SQRT1_2))}, {s});
      node("Erf", {s}, {e});
      node("Add", {e, scalar("one", 1)}, {p});
      node("Mul", {x, scalar("half", 0.5f)}, {h});
      node("Mul", {h, p}, {y});
      return true;
    }
    case F::kLinear: {  // alpha * x + beta
      const std::string ax = temporary(y + "/ax");
      node("Mul", {x, scalar("alpha", f.alpha)}, {ax});
      node("Add", {ax, scalar("beta", f.beta)}, {y});
      return true;
    }
    case F::kClip: node("Clip", {x, scalar("min", f.alpha), scalar("max", f.beta)}, {y}); return true;
  }
  return false;
}

namespace {

// The nodes from `first` on, which one layer wrote, named after it: its first node by the layer's
// name, the others (a fused activation, the steps of a composite function) as "layer/Op", so that
// a reader of the ONNX file, and `onebyone import`, find the layer each came from.
void name_nodes(onnx::GraphProto& graph, int first, const std::string& layer, std::set<std::string>& taken) {
  for (int i = first; i < graph.node_size(); ++i) {
    onnx::NodeProto& n = *graph.mutable_node(i);
    const std::string base = i == first ? layer : layer + "/" + n.op_type();
    std::string name = base;
    for (int k = 2; taken.count(name); ++k) name = fmt::format("{}_{}", base, k);
    taken.insert(name);
    n.set_name(name);
  }
}

void set_type(onnx::ValueInfoProto* v, const std::string& name, const Shape& shape, bool symbolic_batch) {
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (size_t i = 0; i < shape.size(); ++i) {
    auto* d = t->mutable_shape()->add_dim();
    if (i == 0 && symbolic_batch) d->set_dim_param("N");
    else d->set_dim_value(shape[i]);
  }
}

// What the python checker's full_check does: the model's rules, then strict shape inference with
// type checks, which also proves the shapes we declared are the ones the nodes compute.
void check(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
    onnx::ModelProto inferred = model;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1));
  } catch (const std::exception& e) {
    fail("the ONNX model is not valid (ONNX's checker: {}): a bug in the exporter, please report it", e.what());
  }
}

}  // namespace

std::string export_onnx(const onebyone::Checkpoint& checkpoint, const OnnxExportOptions& options) {
  if (options.batch < 0) fail("export: the batch must be positive, or 0 for any batch; got {}", options.batch);
  Graph g = inference_graph(checkpoint, options.batch > 0 ? options.batch : 1);
  const NetRoles roles = find_roles(g);
  const bool symbolic = options.batch == 0;

  // ONNX names: the blobs' own, except the input and output, whose names are the model's contract.
  // Scores of (N, K) are the output themselves unless a softmax follows; others are flattened.
  const std::string output = options.softmax ? "probabilities" : "scores";
  const Shape scores_shape = g.value(roles.scores).shape();
  const bool scores_are_output = scores_shape.size() == 2 && !options.softmax;
  std::map<std::string, std::string> name_of;
  OnnxGraph onnx;
  onnx::GraphProto& nodes = onnx.impl().graph;
  std::set<std::string> node_names;
  for (const char* reserved : {"images", "scores", "probabilities"}) onnx.temporary(reserved);
  const auto onnx_name = [&](const std::string& blob) -> const std::string& {
    auto [it, added] = name_of.try_emplace(blob);
    if (added)
      it->second = blob == roles.images                       ? "images"
                   : blob == roles.scores && scores_are_output ? output
                                                               : onnx.temporary(blob);
    return it->second;
  };

  for (size_t i = 0; i < g.num_layers(); ++i) {
    const Layer& layer = g.layer(i);
    if (layer.role() != Role::kCompute) continue;  // the Input (its images are the graph's input), loss, metric
    const ir::Node& node = g.net().nodes[i];
    std::vector<OnnxValue> in, out;
    for (const ir::Blob* b : node.inputs) in.push_back({onnx_name(b->name), b->value.shape()});
    for (const ir::Blob* b : node.outputs) out.push_back({onnx_name(b->name), b->value.shape()});
    std::vector<OnnxValue> computed = out;  // before a fused post-op
    if (layer.post_op())
      for (OnnxValue& v : computed) v.name = onnx.temporary(layer.name());
    const int first = nodes.node_size();
    if (!layer.to_onnx(onnx, in, computed))
      fail("layer '{}' ({}) has no exact ONNX form: the net cannot be exported", layer.name(), layer.type());
    if (layer.post_op())
      for (size_t k = 0; k < out.size(); ++k)
        if (!onnx.function(*layer.post_op(), computed[k].name, out[k].name))
          fail("layer '{}' ({}): its fused {} has no exact ONNX form", layer.name(), layer.description(),
               layer.post_op()->name);
    name_nodes(nodes, first, layer.name(), node_names);
  }

  // The scores as (N, K), then probabilities if asked.
  const int64_t classes = count(scores_shape) / scores_shape[0];
  std::string scores = onnx_name(roles.scores);
  const int first_of_output = nodes.node_size();
  if (scores_shape.size() != 2) {
    const std::string flat = options.softmax ? onnx.temporary("scores_flat") : output;
    onnx.node("Flatten", {scores}, {flat}, {{"axis", int64_t{1}}});
    scores = flat;
  }
  if (options.softmax) onnx.node("Softmax", {scores}, {output}, {{"axis", int64_t{1}}});
  name_nodes(nodes, first_of_output, output, node_names);

  onnx::ModelProto model;
  model.set_ir_version(kOnnxIrVersion);
  model.set_producer_name("OneByOne");
  model.set_producer_version(ONEBYONE_VERSION);
  model.set_doc_string(fmt::format("{}: input 'images' float (N, C, H, W), pixels p scaled as (p / 255 - {}) / {}; output "
                                   "'{}' float (N, {}){}",
                                   checkpoint.net().name(), kMnistMean, kMnistStd, output, classes,
                                   options.softmax ? ", class probabilities" : ", class scores (logits)"));
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  onnx::GraphProto& graph = *model.mutable_graph();
  graph = std::move(onnx.impl().graph);
  graph.set_name(checkpoint.net().name().empty() ? "onebyone" : checkpoint.net().name());
  set_type(graph.add_input(), "images", g.value(roles.images).shape(), symbolic);
  set_type(graph.add_output(), output, {scores_shape[0], classes}, symbolic);
  check(model);
  return model.SerializeAsString();
}

std::string onnx_signature(const std::string& bytes) {
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) fail("not an ONNX model");
  const auto describe = [](const onnx::ValueInfoProto& v) {
    std::vector<std::string> dims;
    for (const auto& d : v.type().tensor_type().shape().dim())
      dims.push_back(d.has_dim_value() ? std::to_string(d.dim_value()) : d.dim_param());
    return fmt::format("'{}' ({})", v.name(), fmt::join(dims, ","));
  };
  std::vector<std::string> inputs, outputs;
  for (const auto& v : model.graph().input()) inputs.push_back("input " + describe(v));
  for (const auto& v : model.graph().output()) outputs.push_back("output " + describe(v));
  return fmt::format("{}, {}", fmt::join(inputs, ", "), fmt::join(outputs, ", "));
}

}  // namespace obo
