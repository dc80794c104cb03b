#!/usr/bin/python3
"""Where a training step goes, ours beside PyTorch's, by kind of layer: the profile behind a
ratio of bench/run's table. Reads one `onebyone time --json` object (per-layer times) and one
`bench/peer.py --profile` object (torch.profiler, grouped by peer.PROFILE_CLASSES) of the same
model and batch, prints a Markdown table and appends its rows to a JSON-lines file.

  bench/profile.py OURS_JSON PEER_JSON RECORDS_FILE      (bench/run calls it)
"""
import json
import sys

from peer import PROFILE_CLASSES

# Our layer types in the classes PyTorch's operators are grouped in (a class that PROFILE_CLASSES
# splits into ", forward" and ", backward" is split here too). A convolution's ReLU is fused into
# it here and a separate operator there: the class holds both.
OUR_CLASSES = {
    "Conv": "convolution and ReLU", "Conv1x1": "convolution and ReLU", "Conv3x3": "convolution and ReLU",
    "ReLU": "convolution and ReLU",
    "MaxPool": "max-pooling",
    "Dropout": "dropout",
    "FC": "fully connected (and flatten)", "Flatten": "fully connected (and flatten)",
    "Concat": "concatenation",
    "GlobalAvgPool": "global pooling and loss", "SoftmaxCrossEntropy": "global pooling and loss",
    "Accuracy": "global pooling and loss",
}
ELSE = "everything else"


def main():
    ours, peer = json.loads(open(sys.argv[1]).read()), json.loads(open(sys.argv[2]).read())
    records = open(sys.argv[3], "a")
    mine = {name: 0.0 for name, _ in PROFILE_CLASSES}
    mine[ELSE] = 0.0
    for layer in ours["layers"]:
        name = OUR_CLASSES.get(layer["type"], ELSE)
        if name + ", forward" in mine:
            mine[name + ", forward"] += layer["forward_ms"]
            mine[name + ", backward"] += layer["backward_ms"]
        else:
            mine[name] += layer["forward_ms"] + layer["backward_ms"]
    mine["optimizer"] += ours["update_ms"]
    ours_step = ours["forward_ms"] + ours["backward_ms"] + ours["update_ms"]
    theirs, peer_step = dict(peer["train_profile_ms"]), peer["train_profile_step_ms"]
    theirs[ELSE] = peer_step - sum(theirs.values())

    model = peer["model"]  # the net's name (ours holds the path it was given)
    title = f"{model} training, batch {ours['batch']}: ms a step"
    print(f"| {title:<40} |   ours | PyTorch ({peer['train_variant']}) | PyTorch / ours |")
    print("| ---------------------------------------- | -----: | -----: | -----: |")
    rows = [(name, mine[name], theirs[name]) for name, _ in PROFILE_CLASSES + [(ELSE, ())]
            if mine[name] >= 0.05 or theirs[name] >= 0.05]
    for name, a, b in rows + [("whole step", ours_step, peer_step)]:
        ratio = f"{b / a:.2f}x" if a >= 0.05 else "-"
        print(f"| {name:<40} | {a:6.1f} | {b:6.1f} | {ratio:>6} |")
        records.write(json.dumps(dict(section="profile", row=f"{model} training, batch {ours['batch']}: {name}",
                                      ours=a, peer=b, ratio=b / a if a > 0 else None,
                                      peer_variant=peer["train_variant"], extra="ms a step")) + "\n")


if __name__ == "__main__":
    main()
