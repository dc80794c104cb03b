#!/usr/bin/python3
"""Where a training step or an inference pass goes, ours beside PyTorch's, by kind of layer: the
profile behind a ratio of bench/run's table. Reads the rounds of each side, `onebyone time --json`
objects (per-layer times) and `bench/peer.py --profile` objects (torch.profiler, grouped by
peer.PROFILE_CLASSES or peer.INFER_CLASSES) of the same model and batch, one a line; keeps each
side's round with the fastest whole step or pass (the least disturbed, as bench/run's table rows
keep the fastest run); prints a Markdown table and appends its rows to a JSON-lines file.

  bench/profile.py train|infer OURS_ROUNDS PEER_ROUNDS RECORDS_FILE      (bench/run calls it)
"""
import json
import sys

from peer import INFER_CLASSES, PROFILE_CLASSES

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
# The same for an inference pass: the inference graph's layers (BatchNorm folded where a
# convolution precedes it, ReLUs fused, no Dropout; the loss and accuracy layers, which `test`
# reads, count as everything else).
OUR_INFER_CLASSES = {t: c for t, c in OUR_CLASSES.items() if c not in ("dropout", "global pooling and loss")}
OUR_INFER_CLASSES.update({"BatchNorm": "batch normalisation", "GlobalAvgPool": "global pooling", "AvgPool": "global pooling"})
ELSE = "everything else"
JOIN = "concatenation"


def merge_absorbed(layers, names, mine, theirs, classes):
    """Where one of our layers absorbed a concatenation (its "fused" says "Concat": a max-pool that
    reads the branches where they lie), the concatenation's time is inside that layer's: its class
    and the concatenation become one row on both sides, "max-pooling and concatenation" (a class
    split into forward and backward is summed). Where layers of several classes absorbed one
    (a 1x1 convolution and a max-pool: no shipped model), the concatenation's time joins the
    first class's row."""
    absorbers = {classes.get(l["type"], ELSE) for l in layers if "Concat" in l.get("fused", "").split(", ")}
    for cls in sorted(absorbers):
        parts = [n for n in names if n == cls or n.startswith(cls + ", ")] + [JOIN]
        merged = f"{cls} and {JOIN}"
        at = names.index(parts[0])
        names = [n for n in names if n not in parts]
        names.insert(at, merged)
        for side in (mine, theirs):
            side[merged] = sum(side.pop(n, 0.0) for n in parts)
    return names


def table(title, variant, classes, mine, theirs, steps, records, row):
    """Prints the table of one profile and appends its rows to RECORDS. steps: each side's whole
    step or pass in every round, the fastest of which the rows are from."""
    ours_step, peer_step = min(steps["ours"]), min(steps["peer"])
    print(f"| {title:<40} |   ours | PyTorch ({variant}) | PyTorch / ours |")
    print("| ---------------------------------------- | -----: | -----: | -----: |")
    rows = [(name, mine[name], theirs[name]) for name in classes + [ELSE]
            if mine[name] >= 0.005 or theirs[name] >= 0.005]
    whole = "whole step" if "step" in title else "whole pass"
    for name, a, b in rows + [(whole, ours_step, peer_step)]:
        ratio = f"{b / a:.2f}x" if a >= 0.005 else "-"
        print(f"| {name:<40} | {a:6.2f} | {b:6.2f} | {ratio:>6} |")
        records.write(json.dumps(dict(section="profile", row=f"{row}: {name}", ours=a, peer=b,
                                      ratio=b / a if a > 0 else None, peer_variant=variant, extra=title,
                                      rounds=steps if name == whole else None)) + "\n")
    print(f"({len(steps['ours'])} rounds of each side, the fastest kept; {whole}, ms: ours "
          f"{', '.join(f'{t:.2f}' for t in steps['ours'])}; PyTorch {', '.join(f'{t:.2f}' for t in steps['peer'])})")


def infer(ours, peer, steps, records):
    names = [name for name, _ in INFER_CLASSES]
    mine = dict.fromkeys(names + [ELSE], 0.0)
    for layer in ours["inference_layers"]:
        mine[OUR_INFER_CLASSES.get(layer["type"], ELSE)] += layer["ms"]
    theirs, peer_step = dict(peer["infer_profile_ms"]), peer["infer_profile_step_ms"]
    theirs[ELSE] = max(0.0, peer_step - sum(theirs.values()))
    names = merge_absorbed(ours["inference_layers"], names, mine, theirs, OUR_INFER_CLASSES)
    row = f"{peer['model']} inference, batch {ours['batch']}"
    table(f"{row}: ms a pass", peer["infer_variant"], names, mine, theirs, steps, records, row)


def train(ours, peer, steps, records):
    names = [name for name, _ in PROFILE_CLASSES]
    mine = dict.fromkeys(names + [ELSE], 0.0)
    for layer in ours["layers"]:
        name = OUR_CLASSES.get(layer["type"], ELSE)
        if name + ", forward" in mine:
            mine[name + ", forward"] += layer["forward_ms"]
            mine[name + ", backward"] += layer["backward_ms"]
        else:
            mine[name] += layer["forward_ms"] + layer["backward_ms"]
    mine["optimizer"] += ours["update_ms"]
    theirs, peer_step = dict(peer["train_profile_ms"]), peer["train_profile_step_ms"]
    theirs[ELSE] = peer_step - sum(theirs.values())
    names = merge_absorbed(ours["layers"], names, mine, theirs, OUR_CLASSES)
    row = f"{peer['model']} training, batch {ours['batch']}"  # the net's name (ours holds the path it was given)
    table(f"{row}: ms a step", peer["train_variant"], names, mine, theirs, steps, records, row)


# Each mode's whole step or pass, ours and PyTorch's (as it ran under the profiler), in ms.
WHOLE = {
    "train": (lambda o: o["forward_ms"] + o["backward_ms"] + o["update_ms"], lambda p: p["train_profile_step_ms"]),
    "infer": (lambda o: o["infer_ms"], lambda p: p["infer_profile_step_ms"]),
}


def main():
    mode, ours_file, peer_file, records_file = sys.argv[1:]
    fastest, steps = [], {}
    for side, f, whole in zip(("ours", "peer"), (ours_file, peer_file), WHOLE[mode]):
        rounds = [json.loads(line) for line in open(f) if line.strip()]
        steps[side] = [whole(o) for o in rounds]
        fastest.append(min(rounds, key=whole))
    {"train": train, "infer": infer}[mode](*fastest, steps, open(records_file, "a"))


if __name__ == "__main__":
    main()
