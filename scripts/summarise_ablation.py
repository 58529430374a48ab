#!/usr/bin/env python3
"""Mean ± std over seeds of ACC / ECE / NLL per projection and posterior, from scripts/loraxs_ablation.sh.

Usage: python3 scripts/summarise_ablation.py OUT   (standard library only; prints a Markdown table)
"""
import glob
import json
import os
import re
import statistics
import struct
import sys
from collections import defaultdict

out = sys.argv[1]
rows = defaultdict(lambda: defaultdict(list))  # (projection, rank) -> method -> [(acc, ece, nll)]
for path in sorted(glob.glob(os.path.join(out, "*", "laplace.json"))):
    name = os.path.basename(os.path.dirname(path))
    m = re.fullmatch(r"(.+)-r(\d+)-s(\d+)", name)
    if not m:
        continue
    record = json.load(open(path))
    # The projection's own name, from the trained adapter's metadata (the folder name has / replaced).
    with open(os.path.join(os.path.dirname(path), "adapter", "adapter_model.safetensors"), "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    projection = header["__metadata__"]["bayeval_loraxs"]
    for result in record["results"]:
        label = result["method"]["label"].replace(" probit", "")
        label = "MAP (L-LoRA-XS)" if label == "MAP" else label
        x = result["metrics"]
        rows[(projection, int(m.group(2)))][label].append((x["accuracy"], x["ece"], x["nll"]))


def cell(values):
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


print("| projection | r | posterior | seeds | ACC | ECE | NLL |")
print("|---|---|---|---|---|---|---|")
for (projection, rank), methods in rows.items():
    for label, runs in methods.items():
        acc, ece, nll = zip(*runs)
        print(f"| {projection} | {rank} | {label} | {len(runs)} | {cell(acc)} | {cell(ece)} | {cell(nll)} |")
