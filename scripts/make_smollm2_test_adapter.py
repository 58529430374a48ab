#!/usr/bin/env python3
"""A small seeded random PEFT LoRA adapter for SmolLM2-135M (rank 2 on q_proj and v_proj of all 30 layers),
for end-to-end tests of commands that need an adapter on the real model (tfb, evaluate with an adapter).
Not a trained adapter: A ~ N(0, 0.05²), B ~ N(0, 0.05²), so BA is a small, non-zero update of the size a
short fine-tune gives. Written with numpy + safetensors in PEFT's key layout.

  python3 scripts/make_smollm2_test_adapter.py
"""
import json
import os

import numpy as np
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures/adapters/smollm2-random-qv")
rng = np.random.default_rng(20261122)
tensors = {}
for layer in range(30):
    for module, out in (("q_proj", 576), ("v_proj", 192)):
        key = f"base_model.model.model.layers.{layer}.self_attn.{module}"
        tensors[key + ".lora_A.weight"] = (rng.standard_normal((2, 576)) * 0.05).astype(np.float32)
        tensors[key + ".lora_B.weight"] = (rng.standard_normal((out, 2)) * 0.05).astype(np.float32)
os.makedirs(OUT, exist_ok=True)
save_file(tensors, os.path.join(OUT, "adapter_model.safetensors"), metadata={"format": "pt"})
with open(os.path.join(OUT, "adapter_config.json"), "w") as f:
    json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 4, "lora_dropout": 0.0,
               "target_modules": ["q_proj", "v_proj"], "bias": "none", "fan_in_fan_out": False,
               "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct", "inference_mode": True},
              f, indent=2, sort_keys=True)
print("wrote", OUT)
