#!/usr/bin/env python3
"""Train a MAP LoRA adapter for SmolLM2-135M-Instruct with transformers + peft, as bayesian-peft's MAP
baseline does (LoRA r 8, alpha 16, q_proj/v_proj, AdamW with weight decay 1e-5, linear warm-up 6 % and
decay), on bayeval's own prompts: cross-entropy over the K answer-token logits at the last prompt
position. The adapter is saved in PEFT format for `bayeval evaluate` / `bayeval tfb` (real TFB runs).

  python3 scripts/train_peft_map_adapter.py --task obqa --steps 350 --output out/map-obqa
  python3 scripts/train_peft_map_adapter.py --task sst2 --steps 300 --output out/map-sst2

Tasks: obqa, arc-e, arc-c (multiple choice) and sst2 (prompted "negative"/"positive" as A/B, the prompt
in Sources/Loaders/Datasets/GLUEPrompts.swift). Deterministic for a given --seed.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from bench_transformers import left_padded, load_smollm2, prompt as mc_prompt, smollm2_tokenizer  # noqa: E402  (same prompt builder as the benchmark)

TRAIN = {"obqa": "obqa/train.jsonl.zst", "arc-e": "arc-e/ARC-Easy-train.jsonl.zst",
         "arc-c": "arc-c/ARC-Challenge-train.jsonl.zst", "sst2": "sst2/train_full.tsv.zst"}
SST2_INSTRUCTION = None  # read from the Swift source so the two never drift apart


def zstd_text(path):
    return subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout.decode()


def sst2_template():
    src = open(os.path.join(ROOT, "Sources/Loaders/Datasets/GLUEPrompts.swift")).read()
    # The SST-2 template's instruction is the first string literal after `case .sst2`.
    after = src[src.index("case .sst2"):]
    return after.split('"')[1]


def examples(task, limit):
    text = zstd_text(os.path.join(ROOT, "fixtures/data", TRAIN[task]))
    out = []
    if task == "sst2":
        instruction = sst2_template()
        for line in text.splitlines()[1:]:
            sentence, label = line.rsplit("\t", 1)
            p = f"{instruction}\n\nSentence: {sentence.strip()}\nChoices:\nA) negative\nB) positive\nAnswer:"
            out.append((p, [" A", " B"], int(label)))
    else:
        for l in text.splitlines():
            if l.strip():
                out.append(mc_prompt("obqa" if task == "obqa" else "arc-e", json.loads(l)))
    return out[:limit] if limit else out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="obqa", choices=sorted(TRAIN))
    ap.add_argument("--steps", type=int, default=350)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--weight-decay", type=float, default=1e-5)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--output", required=True)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    from peft import LoraConfig, get_peft_model
    from transformers import get_linear_schedule_with_warmup
    tok = smollm2_tokenizer()
    base = load_smollm2()
    model = get_peft_model(base, LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=0.0,
                                            target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    data = examples(args.task, None)
    random.shuffle(data)
    encoded = [(tok.encode(p, add_special_tokens=False).ids, [tok.encode(a, add_special_tokens=False).ids[-1] for a in ans], y)
               for p, ans, y in data]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=args.weight_decay)
    sched = get_linear_schedule_with_warmup(opt, int(0.06 * args.steps), args.steps)
    pad = tok.token_to_id("<|endoftext|>")
    model.train()
    start, cursor = time.perf_counter(), 0
    for step in range(args.steps):
        batch = [encoded[(cursor + i) % len(encoded)] for i in range(args.batch_size)]
        cursor += args.batch_size
        ids, mask, pos = left_padded([b[0] for b in batch], pad)
        last = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits[:, -1]
        loss = sum(torch.nn.functional.cross_entropy(last[r, b[1]][None], torch.tensor([b[2]])) for r, b in enumerate(batch)) / len(batch)
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()
        if step % 10 == 0 or step == args.steps - 1:
            print(f"step {step + 1}/{args.steps} loss {loss.item():.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    model.save_pretrained(args.output)
    with open(os.path.join(args.output, "training.json"), "w") as f:
        json.dump({**vars(args), "seconds": time.perf_counter() - start, "examples": len(encoded),
                   "torch": torch.__version__}, f, indent=1)
    print("saved", args.output)


if __name__ == "__main__":
    main()
