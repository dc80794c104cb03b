// The rooms' arrows, checked by the compiler (this file holds no test case: it fails to build): the oneDNN seam sits below the layer contract and
// includes nothing of it (framework/post_op.h is what it needs of layers). Its twin,
// layering_above_test.cc, checks that the framework above the contract includes no oneDNN.
#include "framework/dnnl_seam.h"

#include <type_traits>

namespace obo {
class Layer;
}

namespace {

template <class T, class = void>
struct Complete : std::false_type {};
template <class T>
struct Complete<T, std::void_t<decltype(sizeof(T))>> : std::true_type {};

static_assert(!Complete<obo::Layer>::value, "framework/dnnl_seam.h must not include the layer contract");

}  // namespace
