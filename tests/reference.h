// Naive references in double precision: plain loops over plain row-major arrays, written for
// obviousness, that the oneDNN layers are compared with one by one, and ReferenceNet, which runs
// a whole net on them so that whole-model gradients can be differenced without float rounding.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "framework/tensor.h"
#include "onebyone.pb.h"

namespace obo::test {

// A plain, row-major array of doubles: NCHW for images, NC for features.
struct Array {
  Shape shape;
  std::vector<double> data;
};
Array to_array(const Tensor& t);  // any layout, converted to plain

// (N,C1,H,W), (N,C2,H,W), ... -> (N,C1+C2+...,H,W)
Array concat_ref(const std::vector<const Array*>& xs);

// x (N,C,H,W), w (O,C,K,K), b (O) or null -> (N,O,Ho,Wo), zero padding.
Array conv_ref(const Array& x, const Array& w, const Array* b, int stride, int pad);

enum class PoolKind { kMax, kAvgIncludePad, kAvgExcludePad };
// Output size rounds down; padded cells never win a max.
Array pool_ref(const Array& x, PoolKind kind, int kernel_h, int kernel_w, int stride_h, int stride_w, int pad);

// x (N, F...) seen as (N,F), w (O,F), b (O) or null -> (N,O)
Array fc_ref(const Array& x, const Array& w, const Array* b);

// Per channel c of x (N,C,...): (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + shift[c], with
// the batch's own mean and (biased) variance when mean and var are null.
Array batch_norm_ref(const Array& x, const Array& scale, const Array& shift, const Array* mean, const Array* var,
                     double eps);

// x > 0 ? x : slope[c] * x, per channel of x (N,C,...).
Array prelu_ref(const Array& x, const Array& slope);

// exp(x) / sum of exp over the channels, per example and pixel of x (N,C,...).
Array softmax_ref(const Array& x);

// x / (k + alpha / size * sum of x^2 over the `size` channels around)^beta; x (N,C,H,W).
Array lrn_ref(const Array& x, int size, double alpha, double beta, double k);

// mean over examples of -log softmax(scores)[label]; scores (N,K)
double softmax_cross_entropy_ref(const Tensor& scores, const Tensor& labels);

// A reference for a layer type the ones here do not know (a plugin's), for ReferenceNet: the
// output from the layer's description, its inputs and its parameters by suffix ("weight"; null
// where the layer has none of that name). Registered once, before the first ReferenceNet runs:
//
//   register_reference("Swish", [](const LayerParameter& l, const std::vector<const Array*>& in, const ParamOf&) {...});
using ParamOf = std::function<const Array*(const std::string& suffix)>;
using LayerReference =
    std::function<Array(const onebyone::LayerParameter&, const std::vector<const Array*>&, const ParamOf&)>;
void register_reference(const std::string& type, LayerReference reference);

// Largest |a - b| / max(1, |b|) between a layer's output and a reference.
double max_relative_error(const Tensor& actual, const Array& expected);

// A net run on the references above, in evaluation mode (dropout is the identity, BatchNorm uses
// its running statistics). It reads the NetParameter itself, so it shares nothing with the Graph
// but the file: the layers the shipped models use (Input, Conv, Conv1x1, Conv3x3, ReLU,
// LeakyReLU, ELU, Sigmoid, Tanh, SiLU, PReLU, BatchNorm, MaxPool, AvgPool, GlobalAvgPool, Dropout, FC,
// Flatten, Concat, Add, Softmax, LRN, and those given register_reference()); any other type is
// an error naming it.
class ReferenceNet {
 public:
  explicit ReferenceNet(onebyone::NetParameter net);
  // Every blob's value, from the Input blobs' values and the parameters and buffers by name
  // ("conv1.weight", "bn1.running_mean").
  std::map<std::string, Array> forward(std::map<std::string, Array> blobs,
                                       const std::map<std::string, Array>& params) const;

 private:
  onebyone::NetParameter net_;
};

}  // namespace obo::test
