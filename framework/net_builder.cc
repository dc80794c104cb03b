#include "framework/net_builder.h"

namespace obo {

NetBuilder::NetBuilder(const std::string& name) { net_.set_name(name); }

onebyone::LayerParameter& NetBuilder::add(const std::string& name, const std::string& type,
                                          const std::vector<std::string>& in, const std::string& out) {
  onebyone::LayerParameter* layer = net_.add_layer();
  layer->set_name(name);
  layer->set_type(type);
  for (const std::string& i : in) layer->add_input(i);
  layer->add_output(out);
  return *layer;
}

std::pair<std::string, std::string> NetBuilder::input(const Shape& images) {
  onebyone::LayerParameter& layer = add("data", "Input", {}, "data");
  layer.add_output("label");
  auto* param = layer.mutable_input_param();
  onebyone::Shape* image_shape = param->add_shape();
  for (int64_t d : images) image_shape->add_dim(d);
  param->add_shape()->add_dim(images.at(0));
  return {"data", "label"};
}

std::string NetBuilder::conv1x1(const std::string& name, const std::string& in, int outputs) {
  add(name, "Conv1x1", {in}, name).mutable_conv()->set_num_output(outputs);
  return name;
}

std::string NetBuilder::conv3x3(const std::string& name, const std::string& in, int outputs) {
  add(name, "Conv3x3", {in}, name).mutable_conv()->set_num_output(outputs);
  return name;
}

std::string NetBuilder::relu(const std::string& name, const std::string& in, const std::string& out) {
  add(name, "ReLU", {in}, out);
  return out;
}

std::string NetBuilder::max_pool(const std::string& name, const std::string& in, int kernel, int stride, int pad) {
  auto* pool = add(name, "MaxPool", {in}, name).mutable_pool();
  pool->set_kernel_size(kernel);
  if (stride) pool->set_stride(stride);
  if (pad) pool->set_pad(pad);
  return name;
}

std::string NetBuilder::global_avg_pool(const std::string& name, const std::string& in, const std::string& out) {
  add(name, "GlobalAvgPool", {in}, out);
  return out;
}

std::string NetBuilder::dropout(const std::string& name, const std::string& in, float ratio) {
  add(name, "Dropout", {in}, name).mutable_dropout()->set_ratio(ratio);
  return name;
}

std::string NetBuilder::concat(const std::string& name, const std::vector<std::string>& in) {
  add(name, "Concat", in, name);
  return name;
}

void NetBuilder::classifier(const std::string& scores, const std::string& label) {
  add("loss", "SoftmaxCrossEntropy", {scores, label}, "loss");
  add("accuracy", "Accuracy", {scores, label}, "accuracy");
}

std::string inception_block(NetBuilder& b, const std::string& p, const std::string& in, const InceptionBranches& c) {
  const std::string b1 = b.relu(p + "b1_relu", b.conv1x1(p + "b1_1x1", in, c.b1), p + "b1");
  std::string b2 = b.relu(p + "b2_reduce_relu", b.conv1x1(p + "b2_reduce", in, c.b2_reduce), p + "b2_reduced");
  b2 = b.relu(p + "b2_relu", b.conv3x3(p + "b2_3x3", b2, c.b2), p + "b2");
  std::string b3 = b.relu(p + "b3_reduce_relu", b.conv1x1(p + "b3_reduce", in, c.b3_reduce), p + "b3_reduced");
  b3 = b.relu(p + "b3_relu_a", b.conv3x3(p + "b3_3x3a", b3, c.b3), p + "b3a");
  b3 = b.relu(p + "b3_relu_b", b.conv3x3(p + "b3_3x3b", b3, c.b3), p + "b3");
  const std::string pooled = b.max_pool(p + "b4_pool", in, 3, 1, 1);
  const std::string b4 = b.relu(p + "b4_relu", b.conv1x1(p + "b4_1x1", pooled, c.b4), p + "b4");
  return b.concat(p + "block", {b1, b2, b3, b4});
}

onebyone::NetParameter inception_net(int64_t batch) {
  NetBuilder b("inception");
  const auto [data, label] = b.input({batch, 1, 28, 28});
  std::string x = b.relu("stem_relu", b.conv3x3("stem", data, 32), "stem_relu");  // (N,32,28,28)
  x = b.max_pool("stem_pool", x, 2);                                                // (N,32,14,14)
  x = inception_block(b, "", x);                                                   // (N,56,14,14)
  x = b.max_pool("pool", x, 2);                                                    // (N,56,7,7)
  const std::string scores = b.global_avg_pool("gap", b.conv1x1("classes", x, 10), "score");  // (N,10,1,1)
  b.classifier(scores, label);
  return b.net();
}

}  // namespace obo
