# Writes corpus/onnx/, the seed models for the ONNX import fuzzer (tests/fuzz/run): small nets in the
# shapes other frameworks export, made with Debian's python3-onnx.  (cd corpus/onnx && /usr/bin/python3 ../../make_onnx_corpus.py)
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(1)


def weight(name, *shape):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def save(name, nodes, inits, output_shape):
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, name + ".onnx")


# PyTorch's x.view(x.size(0), -1) before a Linear: shape arithmetic to fold.
save("view", [
    helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["c"], ["r"]),
    helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Shape", ["p"], ["s"]),
    helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
    helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
    helper.make_node("Concat", ["n1", "minus_one"], ["shape"], axis=0),
    helper.make_node("Reshape", ["p", "shape"], ["flat"]),
    helper.make_node("Gemm", ["flat", "fw", "fb"], ["y"], transB=1),
], [weight("w", 2, 1, 3, 3), weight("b", 2), weight("fw", 3, 18), weight("fb", 3),
    numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
    numpy_helper.from_array(np.array([0], dtype=np.int64), "axes"),
    numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus_one")], ["N", 3])

# Branches, BatchNorm, a global pool and a final softmax (which import leaves to the loss).
save("branches", [
    helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
    helper.make_node("BatchNormalization", ["c", "g", "beta", "mean", "var"], ["bn"], epsilon=1e-5),
    helper.make_node("LeakyRelu", ["bn"], ["a"], alpha=0.1),
    helper.make_node("Concat", ["a", "bn"], ["cat"], axis=1),
    helper.make_node("GlobalAveragePool", ["cat"], ["g1"]),
    helper.make_node("Flatten", ["g1"], ["f"], axis=1),
    helper.make_node("Softmax", ["f"], ["y"], axis=1),
], [weight("w", 2, 1, 1, 1), weight("g", 2), weight("beta", 2), weight("mean", 2),
    numpy_helper.from_array(np.array([1.0, 2.0], dtype=np.float32), "var")], ["N", 4])
