#!/usr/bin/env python3
"""The reference stack doing the MAP LoRA training updates `bayeval train` does, for scripts/bench_train.sh.

transformers + peft (float32, eager attention, 2 threads), SmolLM2-135M-Instruct loaded from the same GGUF,
the true SmolLM2 tokenizer.json, bayeval's training prompts (the standard multiple-choice prompt for OBQA/ARC,
GLUEPrompts' template for SST-2; built by scripts/train_peft_map_adapter.py / bench_transformers.py) on the
first --train-limit examples of the train split in file order. LoRA r 8, alpha 16, q_proj + v_proj,
dropout 0; AdamW (lr 1e-4, weight decay 1e-5), get_linear_schedule_with_warmup with ceil(0.06 N) warm-up
updates, global gradient-norm clip 1.0. Each update takes --batch-size examples from a stream of epochs,
each a seeded shuffle of the training examples (as bayeval's Trainer; the order itself differs), and
minimises the mean cross-entropy over each prompt's K answer-token logits at its last prompt position.

Padding: --padding left (default) puts the pad tokens first, with an attention mask and explicit position
ids, so every sequence ends at the last column and the LM head runs on that column only
(logits_to_keep=1). --padding right is the other common HF layout: pads last, full [B, T, V] logits, the
last real token's row gathered per sequence.

Prints one JSON line: load time (interpreter start to model + adapter ready), training time (the N updates:
batch building, forward, backward, clip, optimizer and scheduler steps), examples/s, prompt tokens/s
(Σ real, unpadded prompt tokens of the examples trained on, as bayeval's log counts them), peak RSS
(getrusage ru_maxrss, and the peak already reached when loading finished), first and final loss.

  python3 scripts/bench_train_transformers.py --task obqa --steps 20 --batch-size 8 --train-limit 160
"""
import argparse
import json
import math
import os
import random
import resource
import sys
import time

T0 = time.perf_counter()
import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from bench_transformers import load_smollm2, smollm2_tokenizer  # noqa: E402
from train_peft_map_adapter import TRAIN, examples as training_examples  # noqa: E402  (bayeval's prompts)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="obqa", choices=sorted(TRAIN))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--train-limit", type=int, default=None, help="first N training examples (default: all)")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--weight-decay", type=float, default=1e-5)
    ap.add_argument("--warmup", type=float, default=0.06)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--padding", choices=["left", "right"], default="left")
    ap.add_argument("--dump-prompts", metavar="FILE",
                    help='write the prompts of the training examples as {"text": …} lines (for `bayeval tokenize --jsonl`)')
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    from peft import LoraConfig, get_peft_model
    from transformers import get_linear_schedule_with_warmup

    tok = smollm2_tokenizer()
    data = training_examples(args.task, args.train_limit)
    if args.dump_prompts:
        with open(args.dump_prompts, "w") as f:
            for text, _, _ in data:
                f.write(json.dumps({"text": text}) + "\n")
    encoded = [(tok.encode(p, add_special_tokens=False).ids,
                [tok.encode(a, add_special_tokens=False).ids[-1] for a in answers], label)
               for p, answers, label in data]
    base = load_smollm2()
    model = get_peft_model(base, LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=0.0,
                                            target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=args.weight_decay)
    sched = get_linear_schedule_with_warmup(opt, math.ceil(args.warmup * args.steps), args.steps)
    pad = tok.token_to_id("<|endoftext|>")
    loaded = time.perf_counter()
    rss_loaded = peak_rss_mb()

    n, per_update = len(encoded), args.batch_size
    orders = {}

    def batch_indices(step):
        """A window of the stream of epochs, epoch e a shuffle seeded with seed + e (bayeval's scheme)."""
        out = []
        for position in range(step * per_update, (step + 1) * per_update):
            epoch = position // n
            if epoch not in orders:
                order = list(range(n))
                random.Random(args.seed + epoch).shuffle(order)
                orders[epoch] = order
            out.append(orders[epoch][position % n])
        return out

    losses, update_seconds = [], []
    prompt_tokens = padded_tokens = trained = 0
    start = time.perf_counter()
    for step in range(args.steps):
        t = time.perf_counter()
        batch = [encoded[i] for i in batch_indices(step)]
        B, T = len(batch), max(len(b[0]) for b in batch)
        K = max(len(b[1]) for b in batch)
        ids = torch.full((B, T), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        answer_ids = torch.zeros(B, K, dtype=torch.long)
        answer_ok = torch.zeros(B, K, dtype=torch.bool)
        for r, (p, answers, _) in enumerate(batch):
            span = slice(T - len(p), T) if args.padding == "left" else slice(0, len(p))
            ids[r, span] = torch.tensor(p)
            mask[r, span] = 1
            answer_ids[r, :len(answers)] = torch.tensor(answers)
            answer_ok[r, :len(answers)] = True
        labels = torch.tensor([b[2] for b in batch])
        if args.padding == "left":
            pos = (mask.cumsum(1) - 1).clamp(min=0)
            last = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False,
                         logits_to_keep=1).logits[:, -1]
        else:
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
            last = logits[torch.arange(B), mask.sum(1) - 1]
        choice = last.gather(1, answer_ids).masked_fill(~answer_ok, float("-inf"))
        loss = torch.nn.functional.cross_entropy(choice, labels)
        loss.backward()
        if args.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(trainable, args.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        update_seconds.append(time.perf_counter() - t)
        prompt_tokens += int(mask.sum())
        padded_tokens += B * T
        trained += B
    train_s = time.perf_counter() - start
    import peft
    import transformers
    print(json.dumps({
        "stack": "transformers+peft", "task": args.task, "steps": args.steps, "batch_size": args.batch_size,
        "train_examples": n, "examples": trained, "prompt_tokens": prompt_tokens, "padded_tokens": padded_tokens,
        "padding": args.padding, "wall_s": round(time.perf_counter() - T0, 3), "load_s": round(loaded - T0, 3),
        "train_s": round(train_s, 3), "update_s": [round(x, 3) for x in update_seconds],
        "examples_per_s": round(trained / train_s, 3), "prompt_tokens_per_s": round(prompt_tokens / train_s, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1), "peak_rss_after_load_mb": round(rss_loaded, 1),
        "first_loss": round(losses[0], 5), "final_loss": round(losses[-1], 5),
        "trainable_parameters": sum(p.numel() for p in trainable), "threads": args.threads,
        "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}))


if __name__ == "__main__":
    main()
