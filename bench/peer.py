#!/usr/bin/python3
"""The PyTorch peer for OneByOne's benchmark.

Builds exactly the nets of models/*.prototxt in PyTorch (read through the same schema,
proto/onebyone.proto, compiled by protoc into a temporary folder) and times them in their
strongest plain form on this machine: every variant a PyTorch user could reach for without
writing kernels is timed, and the fastest is the peer (training: eager NCHW, eager
channels_last; inference: those two, a frozen TorchScript trace of each, the same after
torch.jit.optimize_for_inference, which prepacks oneDNN weights and fuses, and to_mkldnn).
Prints one JSON object per line with the same fields as `onebyone time --json`, plus the
variant that won and every variant's rate (with --profile, also where the fastest variant's
training step or inference pass goes, by kind of layer, for bench/profile).

  bench/peer.py --model models/nin.prototxt --batch 128 --threads 2 [--iterations 20]

With --mode int8 --checkpoint CKPT it loads a OneByOne checkpoint's weights into the same net and
quantizes it as PyTorch's post-training static quantization does (prepare_fx, calibration on the
first --calibrate training images, convert_fx), on each quantized engine Debian's build has
(onednn, qnnpack); it prints the test accuracy of the float net and of each engine's int8 net,
and the int8 images/s at each of --batches, the fastest engine and form (eager, or a frozen
TorchScript trace) per batch.

--variants NAMES times only the named variants (bench/run's later rounds: the winner of the
first), and --no-accuracy leaves int8's accuracies out.

Debian's python3-torch (1.13) starts with 1 thread and needs libopenblas0 (with
OPENBLAS_NUM_THREADS) for fast FC layers; the caller (bench/run) sets both.
"""
import argparse
import copy
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def load_schema():
    out = tempfile.mkdtemp(prefix="onebyone_pb_")
    proto_dir = os.path.join(HERE, "..", "proto")
    subprocess.run(["protoc", f"--proto_path={proto_dir}", f"--python_out={out}",
                    os.path.join(proto_dir, "onebyone.proto")], check=True)
    sys.path.insert(0, out)
    return importlib.import_module("onebyone_pb2")


def read_net(pb, path):
    from google.protobuf import text_format
    net = pb.NetParameter()
    with open(path) as f:
        text_format.Parse(f.read(), net)
    return net


class Net(nn.Module):
    """A DAG of torch modules in the order of the model file (which is topological for the
    shipped models), with the same initialisation rule as OneByOne (He normal, zero bias; Xavier
    uniform where the file asks for it): PyTorch's default init does not train this NIN."""

    def __init__(self, pb, net, in_channels):
        super().__init__()
        self.steps = []  # (kind, module name or None, inputs, output, extra)
        channels = {}
        self.inputs = []
        for layer in net.layer:
            t, name = layer.type, layer.name.replace(".", "_")
            ins, outs = list(layer.input), list(layer.output)
            if t == "Input":
                self.inputs = outs
                channels[outs[0]] = in_channels
                continue
            if t in ("Conv", "Conv1x1", "Conv3x3"):
                c = layer.conv
                k = {"Conv1x1": 1, "Conv3x3": 3}.get(t, c.kernel_size)
                pad = c.pad if c.HasField("pad") else (1 if t == "Conv3x3" else 0)
                m = nn.Conv2d(channels[ins[0]], c.num_output, k, stride=c.stride, padding=pad, bias=c.bias_term)
                self._init(m, c.weight_filler if c.HasField("weight_filler") else None, pb)
                self.add_module(name, m)
                channels[outs[0]] = c.num_output
                self.steps.append(("module", name, ins, outs[0]))
            elif t == "BatchNorm":
                b = layer.batch_norm
                # PyTorch's momentum weighs the new batch; ours weighs the running value.
                self.add_module(name, nn.BatchNorm2d(channels[ins[0]], eps=b.epsilon, momentum=1 - b.momentum))
                self.steps.append(("module", name, ins, outs[0]))
                channels[outs[0]] = channels[ins[0]]
            elif t == "FC":
                self.steps.append(("fc", name, ins, outs[0]))
                channels[outs[0]] = layer.fc.num_output
                self._pending_fc = getattr(self, "_pending_fc", []) + [(name, layer)]
            elif t == "ReLU":
                self.steps.append(("relu", None, ins, outs[0]))
                channels[outs[0]] = channels[ins[0]]
            elif t in ("MaxPool", "AvgPool"):
                p = layer.pool
                stride = p.stride if p.HasField("stride") else p.kernel_size
                m = (nn.MaxPool2d(p.kernel_size, stride, p.pad) if t == "MaxPool" else
                     nn.AvgPool2d(p.kernel_size, stride, p.pad, count_include_pad=p.count_include_pad))
                self.add_module(name, m)
                self.steps.append(("module", name, ins, outs[0]))
                channels[outs[0]] = channels[ins[0]]
            elif t == "GlobalAvgPool":
                self.steps.append(("gap", None, ins, outs[0]))
                channels[outs[0]] = channels[ins[0]]
            elif t == "Dropout":
                self.add_module(name, nn.Dropout(layer.dropout.ratio))
                self.steps.append(("module", name, ins, outs[0]))
                channels[outs[0]] = channels[ins[0]]
            elif t == "Flatten":
                self.steps.append(("flatten", None, ins, outs[0]))
            elif t == "Concat":
                self.steps.append(("concat", None, ins, outs[0]))
                channels[outs[0]] = sum(channels[i] for i in ins)
            elif t == "SoftmaxCrossEntropy":
                self.scores = ins[0]
            elif t == "Accuracy":
                pass
            else:
                raise SystemExit(f"bench/peer.py: no PyTorch translation for layer type {t}")
        self.pb = pb

    @staticmethod
    def _init(m, filler, pb):
        if filler is not None and filler.type == pb.FillerParameter.XAVIER:
            nn.init.xavier_uniform_(m.weight)
        else:
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)

    def materialise(self, example):
        """FC layers need their input width: run once to learn it, then create them."""
        blobs = {self.inputs[0]: example}
        with torch.no_grad():
            for kind, name, ins, out in self.steps:
                if kind == "fc":
                    layer = dict(self._pending_fc)[name]
                    width = blobs[ins[0]].flatten(1).shape[1]
                    m = nn.Linear(width, layer.fc.num_output, bias=layer.fc.bias_term)
                    self._init(m, layer.fc.weight_filler if layer.fc.HasField("weight_filler") else None, self.pb)
                    self.add_module(name, m)
                blobs[out] = self._step(kind, name, ins, blobs)
        del self.pb

    def _step(self, kind, name, ins, blobs):
        x = blobs[ins[0]]
        if kind == "module":
            return getattr(self, name)(x)
        if kind == "fc":
            return getattr(self, name)(x.flatten(1))
        if kind == "relu":
            return F.relu(x)
        if kind == "gap":
            return F.adaptive_avg_pool2d(x, 1)
        if kind == "flatten":
            return x.flatten(1)
        return torch.cat([blobs[i] for i in ins], 1)

    def forward(self, x):
        blobs = {self.inputs[0]: x}
        for kind, name, ins, out in self.steps:
            blobs[out] = self._step(kind, name, ins, blobs)
        return blobs[self.scores].flatten(1)


def load_checkpoint(pb, path, model):
    """A OneByOne checkpoint's weights into the net: "OBOCKPT", a format byte, the payload's
    length and CRC-32 (20 bytes), then the binary Checkpoint message (framework/checkpoint.h)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:7] != b"OBOCKPT":
        raise SystemExit(f"bench/peer.py: {path} is not a OneByOne checkpoint")
    c = pb.Checkpoint()
    c.ParseFromString(data[20:])
    names = {"scale": "weight", "shift": "bias"}  # BatchNorm's parameters, as PyTorch names them
    state = model.state_dict()
    for blob in list(c.param) + list(c.buffer):
        layer, _, what = blob.name.rpartition(".")
        key = f"{layer.replace('.', '_')}.{names.get(what, what)}"
        state[key] = torch.tensor(list(blob.data)).view(state[key].shape)
    model.load_state_dict(state)


def mnist(a, split, n=None):
    """The first n images of a split, scaled as OneByOne scales them, and their labels."""
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(a.data, f"{prefix}-images-idx3-ubyte"), 16).view(-1, 1, 28, 28)[:n]
    labels = read_idx(os.path.join(a.data, f"{prefix}-labels-idx1-ubyte"), 8)[:n].long()
    return (images.float() / 255 - 0.1307) / 0.3081, labels


def accuracy(fn, images, labels, batch=500):
    with torch.no_grad():
        correct = sum((fn(images[i:i + batch]).argmax(1) == labels[i:i + batch]).sum().item()
                      for i in range(0, len(images), batch))
    return correct / len(images)


def int8(model, a):
    """PyTorch's post-training static quantization of the checkpoint's net, per engine."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    calibration, _ = mnist(a, "train", a.calibrate)
    test, labels = mnist(a, "test")
    model.eval()
    result = {} if a.no_accuracy else {"fp32_accuracy": accuracy(model, test, labels), "int8_accuracy": {}}
    forms = ("eager", "frozen trace")
    nets = {}
    for engine in ("onednn", "qnnpack"):
        if engine not in torch.backends.quantized.supported_engines or not chosen([f"{engine} {f}" for f in forms], a.variants):
            continue
        torch.backends.quantized.engine = engine
        prepared = prepare_fx(copy.deepcopy(model), get_default_qconfig_mapping(engine), example_inputs=(test[:1],))
        with torch.no_grad():
            for first in range(0, len(calibration), 100):
                prepared(calibration[first:first + 100])
        nets[engine] = convert_fx(prepared)
        if not a.no_accuracy:
            result["int8_accuracy"][engine] = accuracy(nets[engine], test, labels)
    rates = {}
    for batch in a.batches:
        x = torch.randn(batch, 1, 28, 28)
        variants = {}
        with torch.no_grad():
            for engine, net in nets.items():
                torch.backends.quantized.engine = engine
                if chosen([f"{engine} eager"], a.variants):
                    variants[f"{engine} eager"] = batch / timed(lambda: net(x), a.iterations, a.warmup)
                if chosen([f"{engine} frozen trace"], a.variants):
                    frozen = torch.jit.freeze(torch.jit.trace(net, x))
                    variants[f"{engine} frozen trace"] = batch / timed(lambda: frozen(x), a.iterations, a.warmup)
        best = max(variants, key=variants.get)
        rates[str(batch)] = {"int8_images_per_s": variants[best], "int8_variant": best, "int8_variants": variants}
    result["batches"] = rates
    return result


def read_idx(path, offset):
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)[offset:]


def full_train(model, a):
    """What `onebyone train --train-size STEPS*BATCH` holds: the first STEPS*BATCH training
    images and the test set in memory, one epoch of random batches over those images, then an
    evaluation of the test set; for the peak resident memory."""
    n = a.steps * a.batch
    train = read_idx(os.path.join(a.data, "train-images-idx3-ubyte"), 16).view(-1, 1, 28, 28)[:n].clone()
    train_labels = read_idx(os.path.join(a.data, "train-labels-idx1-ubyte"), 8)[:n].long()
    test = read_idx(os.path.join(a.data, "t10k-images-idx3-ubyte"), 16).view(-1, 1, 28, 28)
    m = model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    order = torch.randperm(train.shape[0])
    start = time.perf_counter()
    for step in range(a.steps):
        idx = order[step * a.batch:(step + 1) * a.batch]
        x = ((train[idx].float() / 255 - 0.1307) / 0.3081).contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(m(x), train_labels[idx]).backward()
        opt.step()
    seconds = time.perf_counter() - start
    m.eval()
    with torch.no_grad():
        for first in range(0, test.shape[0], a.batch):
            m(((test[first:first + a.batch].float() / 255 - 0.1307) / 0.3081).contiguous(memory_format=torch.channels_last))
    return {"steps": a.steps, "train_images_per_s": a.steps * a.batch / seconds}


def inference_variants(model, x):
    """(name, build) pairs; build() returns a function of one input and that input."""
    cl = x.contiguous(memory_format=torch.channels_last)

    def eager(fmt):
        if fmt == "nchw":
            return copy.deepcopy(model), x
        return copy.deepcopy(model).to(memory_format=torch.channels_last), cl

    def frozen(fmt, optimize):
        m, xv = eager(fmt)
        traced = torch.jit.freeze(torch.jit.trace(m, xv))
        return (torch.jit.optimize_for_inference(traced) if optimize else traced), xv

    def mkldnn():
        from torch.utils import mkldnn as mkldnn_utils
        m = mkldnn_utils.to_mkldnn(copy.deepcopy(model))
        xm = x.to_mkldnn()
        return (lambda v: m(v).to_dense()), xm

    yield "eager", lambda: eager("nchw")
    yield "eager channels_last", lambda: eager("channels_last")
    for fmt in ("nchw", "channels_last"):
        yield f"frozen trace {fmt}", lambda fmt=fmt: frozen(fmt, False)
        yield f"optimize_for_inference {fmt}", lambda fmt=fmt: frozen(fmt, True)
    yield "to_mkldnn", mkldnn


# Where a PyTorch training step goes, in the classes bench/profile sets ours beside. An operator
# counts for the first class that names it or one of its callers, so nested work (the zeroing
# inside a max-pool's backward, the mask inside dropout) stays with the layer that asked for it.
PROFILE_CLASSES = [
    ("convolution and ReLU, forward", ("aten::convolution", "aten::relu")),
    ("convolution and ReLU, backward", ("aten::convolution_backward", "aten::threshold_backward")),
    ("max-pooling, forward", ("aten::max_pool2d",)),
    ("max-pooling, backward", ("aten::max_pool2d_with_indices_backward",)),
    ("dropout", ("aten::dropout", "MulBackward0")),
    ("fully connected (and flatten)", ("aten::linear", "AddmmBackward0", "MmBackward0")),
    ("concatenation", ("aten::cat", "CatBackward0")),
    ("global pooling and loss", ("aten::adaptive_avg_pool2d", "AdaptiveAvgPool2DBackward0", "MeanBackward1",
                                 "aten::cross_entropy_loss", "NllLossBackward0", "LogSoftmaxBackward0")),
    ("optimizer", ("Optimizer.step",)),
]


# Where a PyTorch inference pass goes, in the classes bench/profile sets ours beside. Run from
# TorchScript, the operators sit under the graph's "forward"; optimize_for_inference's prepacked
# oneDNN convolutions are not seen by the profiler at all (see profile_classes).
INFER_CLASSES = [
    ("convolution and ReLU", ("aten::conv2d", "aten::_convolution", "aten::relu", "aten::relu_", "aten::mkldnn_convolution")),
    ("batch normalisation", ("aten::batch_norm",)),
    ("max-pooling", ("aten::max_pool2d",)),
    ("fully connected (and flatten)", ("aten::linear", "aten::mkldnn_linear", "aten::flatten", "aten::addmm", "aten::matmul")),
    ("concatenation", ("aten::cat",)),
    ("global pooling", ("aten::adaptive_avg_pool2d", "aten::mean")),
    ("layout conversions", ("aten::to_dense", "aten::to_mkldnn", "aten::contiguous")),
]


def profile_classes(step, iterations, classes):
    """Milliseconds per step in each of CLASSES, from torch.profiler over ITERATIONS steps, and the
    milliseconds of the whole step as it ran under the profiler. Where the profiler saw no
    convolution at all (optimize_for_inference runs them as prepacked oneDNN primitives it does
    not record), the part of the step no recorded operator accounts for is theirs."""
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(iterations):
            step()
        wall = time.perf_counter() - start

    def owner(event):
        for name, ops in classes:
            if any(event.name == op or event.name.startswith(op + "#") or event.name.endswith(": " + op)
                   for op in ops):
                return name
        return None

    def callers(event):
        while event.cpu_parent is not None:
            event = event.cpu_parent
            yield event

    ms = {name: 0.0 for name, _ in classes}
    recorded = 0.0  # operators, whether classified or not (a TorchScript graph's "forward" holds them)
    for event in prof.events():
        name = owner(event)
        if name and not any(owner(caller) for caller in callers(event)):  # else counted with its caller
            ms[name] += event.cpu_time_total / 1e3 / iterations
        if event.name.startswith("aten::") and not any(c.name.startswith("aten::") for c in callers(event)):
            recorded += event.cpu_time_total / 1e3 / iterations
    step_ms = wall * 1e3 / iterations
    convolution = classes[0][0]
    if not any(e.name in ("aten::conv2d", "aten::_convolution", "aten::convolution", "aten::mkldnn_convolution")
               for e in prof.events()):
        ms[convolution] += max(0.0, step_ms - recorded)
    return ms, step_ms


def chosen(names, variants):
    """The names that variants (None: all) keeps."""
    return [n for n in names if not variants or n in variants]


def timed(fn, iterations, warmup):
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - start) / iterations


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--mode", choices=["train", "infer", "both", "fulltrain", "int8"], default="both")
    ap.add_argument("--checkpoint", help="int8: the OneByOne checkpoint whose weights the net takes")
    ap.add_argument("--calibrate", type=int, default=1000, help="int8: calibration images")
    ap.add_argument("--batches", type=lambda v: [int(b) for b in v.split(",")], default=[1, 8, 32, 128, 256],
                    help="int8: the batches to time")
    ap.add_argument("--data", default=os.path.join(HERE, "..", "data", "mnist"))
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--profile", action="store_true", help="also where the fastest variant's step or pass goes")
    ap.add_argument("--variants", type=lambda v: set(v.split(",")),
                    help="only these variants, by name (comma-separated): a later round times only an earlier winner")
    ap.add_argument("--no-accuracy", action="store_true", help="int8: time only, no accuracy (a later round)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    pb = load_schema()
    net_def = read_net(pb, a.model)
    shape = list(net_def.layer[0].input_param.shape[0].dim)
    shape[0] = a.batch
    model = Net(pb, net_def, shape[1])
    x = torch.randn(*shape)
    y = torch.randint(0, 10, (a.batch,))
    model.materialise(x)
    result = {"model": net_def.name, "batch": a.batch, "threads": torch.get_num_threads(), "torch": torch.__version__}

    if a.mode == "fulltrain":
        result.update(full_train(model, a))

    if a.mode == "int8":
        load_checkpoint(pb, a.checkpoint, model)
        result.update(int8(model, a))

    if a.mode in ("train", "both"):
        rates, steps = {}, {}
        for fmt in chosen(("nchw", "channels_last"), a.variants):
            m = copy.deepcopy(model).train()
            xf = x
            if fmt == "channels_last":
                m = m.to(memory_format=torch.channels_last)
                xf = x.contiguous(memory_format=torch.channels_last)
            opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)

            def step(m=m, xf=xf, opt=opt):  # bound now: the profile reruns the fastest one
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(m(xf), y).backward()
                opt.step()

            rates[fmt] = a.batch / timed(step, a.iterations, a.warmup)
            steps[fmt] = step
        best = max(rates, key=rates.get)
        result.update(train_images_per_s=rates[best], train_variant=best, train_variants=rates)
        if a.profile:
            result["train_profile_ms"], result["train_profile_step_ms"] = profile_classes(steps[best], a.iterations,
                                                                                        PROFILE_CLASSES)

    if a.mode in ("infer", "both"):
        rates, passes = {}, {}
        with torch.no_grad():
            for name, make in inference_variants(model.eval(), x):
                if not chosen([name], a.variants):
                    continue
                try:
                    fn, xv = make()
                    passes[name] = lambda fn=fn, xv=xv: fn(xv)
                    rates[name] = a.batch / timed(passes[name], a.iterations, a.warmup)
                except Exception as e:  # a variant PyTorch cannot build for this net
                    result.setdefault("infer_failed", {})[name] = str(e).splitlines()[0][:200]
            best = max(rates, key=rates.get)
            result.update(infer_images_per_s=rates[best], infer_variant=best, infer_variants=rates)
            if a.profile:
                result["infer_profile_ms"], result["infer_profile_step_ms"] = profile_classes(passes[best], a.iterations,
                                                                                            INFER_CLASSES)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
