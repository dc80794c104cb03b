// Maxout (Goodfellow et al., 2013), the activation the Network-in-Network paper sets its mlpconv
// layers against: the input channels fall into groups of `pieces` consecutive ones, and each
// group's largest value is an output channel. A layer OneByOne does not ship, written against
// the installed package and loaded into the stock tool as a plugin:
//
//   layer { name: "mo1" type: "Maxout" input: "cccp1" output: "mo1" [maxout.maxout] { pieces: 2 } }
//   (N, C*pieces, H, W) -> (N, C, H, W)
//
// Plain loops: the input arrives in whatever layout its producer chose (a convolution's blocked
// one, say), and a dnn::Arg converts it to plain NCHW only when it is not.
#include "framework/dnnl_seam.h"
#include "framework/registry.h"
#include "maxout.pb.h"

namespace {

using namespace obo;

class Maxout : public Layer {
 public:
  explicit Maxout(const LayerParameter& p) : Layer(p), pieces_(p.GetExtension(maxout::maxout).pieces()) {
    expect_arity(1, 1, 1);
    if (pieces_ < 1) error("maxout.pieces must be positive, got {}", pieces_);
  }

  Shapes output_shapes(const Shapes& in) const override {
    const Shape& x = in[0];
    if (x.size() != 4 || x[1] % pieces_ != 0)
      error("needs an (N,C,H,W) input whose C is a multiple of {} pieces, got {}", pieces_, to_string(x));
    return {{x[0], x[1] / pieces_, x[2], x[3]}};
  }

  // Its own ONNX form (framework/onnx.h): the groups as an axis of their own, then their max.
  bool to_onnx(OnnxGraph& onnx, const std::vector<OnnxValue>& in, const std::vector<OnnxValue>& out) const override {
    const Shape& x = in[0].shape;
    const std::string groups = onnx.temporary(out[0].name + "/groups");
    onnx.node("Reshape", {in[0].name, onnx.constant(name() + ".groups_shape", {0, x[1] / pieces_, pieces_, x[2], x[3]})},
              {groups});  // 0: the batch, whatever it is
    onnx.node("ReduceMax", {groups}, {out[0].name}, {{"axes", std::vector<int64_t>{2}}, {"keepdims", int64_t{0}}});
    return true;
  }

  void reshape(const Ports& in, const Ports& out) override {
    const Tensor& x = *in[0].value;
    out[0].value->reshape(output_shapes({x.shape()})[0]);  // plain
    x_.init(dnn::desc_of(x), dnn::plain_desc(x.shape()));
    dx_.init(dnn::desc_of(x), dnn::plain_desc(x.shape()));
    winner_.assign(out[0].value->count(), 0);
  }

  // y[n,c,p] = max over j < pieces of x[n, c*pieces + j, p]; winner_ remembers which j.
  void forward(const Ports& in, const Ports& out, const Context&) override {
    x_.read(*in[0].value);
    const float* x = static_cast<const float*>(x_.mem().get_data_handle());
    float* y = out[0].value->data();
    const Shape& s = out[0].value->shape();
    const int64_t n = s[0], c = s[1], hw = s[2] * s[3];
#pragma omp parallel for collapse(2)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < c; ++k)
        for (int64_t p = 0; p < hw; ++p) {
          const float* group = x + ((i * c + k) * pieces_) * hw + p;
          int best = 0;
          for (int j = 1; j < pieces_; ++j)
            if (group[j * hw] > group[best * hw]) best = j;
          y[(i * c + k) * hw + p] = group[best * hw];
          winner_[(i * c + k) * hw + p] = best;
        }
  }

  // Each output's gradient goes to the input that won its group; the others get 0.
  void backward(const Ports& in, const Ports& out) override {
    if (!in[0].grad) return;
    dx_.bind(*in[0].grad);
    float* dx = static_cast<float*>(dx_.mem().get_data_handle());
    const float* dy = out[0].grad->data();
    const Shape& s = out[0].value->shape();
    const int64_t n = s[0], c = s[1], hw = s[2] * s[3];
#pragma omp parallel for collapse(2)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < c; ++k)
        for (int64_t p = 0; p < hw; ++p)
          for (int j = 0; j < pieces_; ++j)
            dx[((i * c + k) * pieces_ + j) * hw + p] = j == winner_[(i * c + k) * hw + p] ? dy[(i * c + k) * hw + p] : 0.f;
    dx_.write(*in[0].grad);
  }

 private:
  int pieces_;
  dnn::Arg x_, dx_;            // the input and its gradient, seen plain
  std::vector<int> winner_;    // per output element, the piece that won
};

}  // namespace

REGISTER_LAYER("Maxout", Maxout);
