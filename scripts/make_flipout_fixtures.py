#!/usr/bin/env python3
"""Reference logits for bayeval's Flipout noise (`tfb --upstream`), from bayesian-peft's BLoB forward.

Run from the repository root:  python3 scripts/make_flipout_fixtures.py
Needs: numpy, torch (CPU), transformers, peft. Writes fixtures/posthoc/flipout-tiny-llama3.json.

bayesian-peft's `blob_linear_forward` (modelwrappers/blob.py) adds to every peft LoRA Linear's output
    noise = (((x * r_A) @ E^T) * s_A) @ B^T * scaling,   E = sigma_A * randn(r, in),
with r_A (tokens x in) and s_A (tokens x r) random signs per token and E drawn once per forward call. This
script runs that forward through transformers + peft on the tiny Llama-3 fixture and its adapter, with E,
r_A and s_A taken from bayeval's own generators (SplitMix64, Box-Muller), re-implemented here, so the two
sides can be compared draw for draw:
  - E of a module: `standardNormal(callSeed ^ key * 0x9E3779B97F4A7C15)`, row i scaled by std_i;
  - the sign streams of a sequence in a module: SplitMix64(seed ^ key * 0xD1B54A32D192ED03) gives the seeds
    of r (tokens x in, row-major) and s (tokens x r); sign j is bit j mod 64 of output floor(j/64) + 1 of
    its seed, set meaning -1 (token t's signs are numbers t*in... and t*r... of the streams; bayeval runs the
    last layer's tail and the head at the last position only, and keeps that position's signs).
key = FNV-1a 64 of the module name (bayeval's name, without peft's "base_model.model." prefix), std_i =
0.05 * (1 + i) / r. Sequences run one at a time (batch 1, no padding). Deterministic.
"""
import json
import math
import os

import numpy as np
import torch
from peft import PeftModel
from transformers import LlamaForCausalLM

torch.set_num_threads(2)
M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & M64

    def next(self):
        self.state = (self.state + GOLDEN) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)


def standard_normal(seed, count):
    out = np.empty(count, dtype=np.float32)
    for j in range((count + 1) // 2):
        rng = SplitMix64(seed + 2 * j * GOLDEN)
        u1 = ((rng.next() >> 11) + 1) * 2.0**-53
        u2 = (rng.next() >> 11) * 2.0**-53
        radius, angle = math.sqrt(-2 * math.log(u1)), 2 * math.pi * u2
        out[2 * j] = radius * math.cos(angle)
        if 2 * j + 1 < count:
            out[2 * j + 1] = radius * math.sin(angle)
    return out


def signs(seed, count):
    out = np.empty(count, dtype=np.float32)
    for w in range((count + 63) // 64):
        bits = SplitMix64(seed + w * GOLDEN).next()
        for b in range(min(64, count - 64 * w)):
            out[64 * w + b] = -1.0 if (bits >> b) & 1 else 1.0
    return out


def fnv1a(name):
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & M64
    return h


def main():
    base = LlamaForCausalLM.from_pretrained("fixtures/models/tiny-llama3", attn_implementation="eager").float()
    model = PeftModel.from_pretrained(base, "fixtures/models/tiny-llama3-adapter").eval()
    layers = {}
    for name, module in model.named_modules():
        if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
            layers[name.removeprefix("base_model.model.")] = module
    # (tokens, seed, call seed): sequences 0, 1 and 3 share a call (one E), 2 has its own, between them.
    sequences = [([5, 17, 99, 3, 250, 42, 7], 1001, 77), ([12, 8, 200, 31], 1002, 77), ([9, 140, 66, 2, 180], 1003, 78),
                 ([33, 71, 4, 190, 6, 222, 15, 88, 61], 1004, 77)]
    ids = [10, 20, 30, 40]
    current = {}

    def hook(name):
        module = layers[name]
        a, b = module.lora_A["default"].weight, module.lora_B["default"].weight
        scaling, rank, width = module.scaling["default"], a.shape[0], a.shape[1]
        std = torch.tensor([0.05 * (1 + i) / rank for i in range(rank)])
        key = fnv1a(name)

        def forward(_module, inputs, output):
            (x,) = inputs
            tokens, seed, call = current["sequence"]
            n = x.shape[1]
            e = torch.from_numpy(standard_normal((call ^ (key * GOLDEN)) & M64, rank * width)).view(rank, width)
            e = e * std[:, None]
            rng = SplitMix64(seed ^ ((key * 0xD1B54A32D192ED03) & M64))
            input_seed, output_seed = rng.next(), rng.next()
            r = torch.from_numpy(signs(input_seed, n * width)).view(n, width)
            s = torch.from_numpy(signs(output_seed, n * rank)).view(n, rank)
            noise = (((x * r) @ e.transpose(0, 1)) * s) @ b.transpose(0, 1)
            return output + noise * scaling

        return forward

    for name, module in layers.items():
        module.register_forward_hook(hook(name))
    cases = []
    with torch.no_grad():
        for tokens, seed, call in sequences:
            current["sequence"] = (tokens, seed, call)
            logits = model(input_ids=torch.tensor([tokens])).logits[0, -1, ids]
            cases.append({"tokens": tokens, "seed": seed, "call_seed": call, "logits": logits.tolist()})
    out = {
        "what": "bayesian-peft's BLoB forward (Flipout) with bayeval's draws, tiny-llama3 + its adapter",
        "std_rule": "0.05 * (1 + row) / rank on every LoRA module's A; key = FNV-1a 64 of the module name",
        "modules": sorted(layers),
        "answer_ids": ids,
        "cases": cases,
    }
    os.makedirs("fixtures/posthoc", exist_ok=True)
    with open("fixtures/posthoc/flipout-tiny-llama3.json", "w") as f:
        json.dump(out, f, indent=1)
    print("wrote fixtures/posthoc/flipout-tiny-llama3.json:", len(cases), "sequences,", len(layers), "modules")


if __name__ == "__main__":
    main()
