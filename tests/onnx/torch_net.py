#!/usr/bin/python3
"""PyTorch's side of the import test: one of bench/peer.py's nets, trained a few steps in PyTorch,
exported by torch.onnx.export, with PyTorch's own scores and accuracy on the first test digits.

  tests/onnx/torch_net.py --model models/nin.prototxt --data data/mnist --out DIR [--steps 20] [--digits 1000]

Writes DIR/model.onnx (opset 13, any batch: what a PyTorch user exports), DIR/scores.bin (the
scores of the first --digits test digits, float32, row-major (N, 10)), and prints a JSON object:
the digits, how many PyTorch classifies correctly, and how many are near ties (top two scores
within 1e-4: a class there may differ between two correct implementations).
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import peer  # noqa: E402  (the benchmark's nets, read from the same model files)


def digits(data, split, count):
    """The first `count` images of a split, scaled as OneByOne scales them, and their labels."""
    prefix = "train" if split == "train" else "t10k"
    images = peer.read_idx(os.path.join(data, f"{prefix}-images-idx3-ubyte"), 16).view(-1, 1, 28, 28)[:count]
    labels = peer.read_idx(os.path.join(data, f"{prefix}-labels-idx1-ubyte"), 8)[:count].long()
    return (images.float() / 255 - 0.1307) / 0.3081, labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--digits", type=int, default=1000)
    a = ap.parse_args()
    torch.manual_seed(1)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))

    pb = peer.load_schema()
    model = peer.Net(pb, peer.read_net(pb, a.model), 1)
    model.materialise(torch.zeros(1, 1, 28, 28))
    # Channels-last: PyTorch's faster form on this CPU (bench/peer.py), twice as fast as NCHW here.
    fast = torch.channels_last
    model = model.to(memory_format=fast)
    images, labels = digits(a.data, "train", a.steps * a.batch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for step in range(a.steps):
        batch = slice(step * a.batch, (step + 1) * a.batch)
        opt.zero_grad()
        F.cross_entropy(model(images[batch].contiguous(memory_format=fast)), labels[batch]).backward()
        opt.step()

    model.eval()
    test, test_labels = digits(a.data, "test", a.digits)
    with torch.no_grad():
        scores = model(test.contiguous(memory_format=fast))
    model = model.to(memory_format=torch.contiguous_format)
    os.makedirs(a.out, exist_ok=True)
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), os.path.join(a.out, "model.onnx"), opset_version=13,
                      input_names=["images"], output_names=["scores"],
                      dynamic_axes={"images": {0: "N"}, "scores": {0: "N"}})
    scores.numpy().astype("<f4").tofile(os.path.join(a.out, "scores.bin"))
    top2 = scores.topk(2, dim=1).values
    print(json.dumps({"digits": int(test.shape[0]),
                      "correct": int((scores.argmax(1) == test_labels).sum()),
                      "near_ties": int((top2[:, 0] - top2[:, 1] < 1e-4).sum())}))


if __name__ == "__main__":
    main()
