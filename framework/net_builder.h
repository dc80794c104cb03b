// Building nets in code, for programs that embed OneByOne. Each call appends one layer and
// returns the name of the blob it produces, so a net reads top to bottom as in a model file:
//
//   NetBuilder b("tiny");
//   auto [data, label] = b.input({64, 1, 28, 28});
//   std::string x = b.relu("relu1", b.conv3x3("conv1", data, 32));   // (N,32,28,28)
//   x = inception_block(b, "inc1_", x, {16, 16, 24, 8, 8, 8});          // (N,64,28,28)
//   b.classifier(b.global_avg_pool("gap", b.conv1x1("classes", x, 10)), label);
//   obo::Graph graph(b.net());
//
// The result is the same NetParameter a model file describes; models/inception.prototxt is
// inception_net() written out (a test holds the two equal).
#pragma once

#include <string>
#include <utility>

#include "framework/tensor.h"
#include "onebyone.pb.h"

namespace obo {

class NetBuilder {
 public:
  explicit NetBuilder(const std::string& name);

  // An Input layer "data" with blobs "data" (images) and "label".
  std::pair<std::string, std::string> input(const Shape& images);
  std::string conv1x1(const std::string& name, const std::string& in, int outputs);
  std::string conv3x3(const std::string& name, const std::string& in, int outputs);  // pad 1
  std::string relu(const std::string& name, const std::string& in, const std::string& out);
  std::string max_pool(const std::string& name, const std::string& in, int kernel, int stride = 0, int pad = 0);
  std::string global_avg_pool(const std::string& name, const std::string& in, const std::string& out);
  std::string dropout(const std::string& name, const std::string& in, float ratio);
  std::string concat(const std::string& name, const std::vector<std::string>& in);
  // SoftmaxCrossEntropy "loss" and Accuracy "accuracy" on the scores.
  void classifier(const std::string& scores, const std::string& label);

  const onebyone::NetParameter& net() const { return net_; }

 private:
  onebyone::LayerParameter& add(const std::string& name, const std::string& type, const std::vector<std::string>& in,
                                const std::string& out);
  onebyone::NetParameter net_;
};

// Channels of the four branches of an Inception block (ReLU after every convolution):
// 1x1; 1x1 reduce then 3x3; 1x1 reduce then two 3x3; 3x3 max pool (stride 1) then 1x1.
struct InceptionBranches {
  int b1 = 16;
  int b2_reduce = 16, b2 = 24;
  int b3_reduce = 8, b3 = 8;
  int b4 = 8;
};

// Appends one block reading `in`; layer and blob names start with `prefix`. Returns the
// concatenation, of b1 + b2 + b3 + b4 channels at the input's resolution.
std::string inception_block(NetBuilder& b, const std::string& prefix, const std::string& in,
                            const InceptionBranches& branches = {});

// models/inception.prototxt, built in code.
onebyone::NetParameter inception_net(int64_t batch = 128);

}  // namespace obo
