#!/usr/bin/env python3
"""laplace-torch running what `bayeval laplace --hessian kron --link probit` runs, for scripts/bench_laplace.sh.

laplace-torch 0.3 with curvlinops 3.0.1 (`Laplace(model, "classification", subset_of_weights="all",
hessian_structure="kron", backend=CurvlinopsGGN)`, laplace-lora's configuration) over every LoRA parameter of a
peft adapter on SmolLM2-135M-Instruct, float32, eager attention, 2 threads. The model is read from the f32
safetensors directory `--convert` writes once from the GGUF (its native format: nothing is de-quantised at start).
The prompts and tokenizer are bayeval's (scripts/bench_transformers.py: PromptOptions.standard, answer prefix " ");
the fit set is the first --fit-limit training examples in file order, the test set the first --limit test
examples, as `bayeval laplace --fit-limit N --limit M` takes them. Batches are left-padded with explicit position
ids; only the scored position goes through the output head (`logits_to_keep=1`).

Steps, each timed: load; `la.fit` (KFAC, GGN type-2, batch --fit-batch-size); the prior precision by
laplace-torch's own marginal-likelihood schedule (`optimize_prior_precision(method="marglik")`: Adam, lr 0.1,
100 steps); the GLM predictive with the probit link (`la(x, pred_type="glm", link_approx="probit")`, batch
--predict-batch-size). KFAC's input factor is normalised by each batch's padded length, so only batch 1 gives
the numbers bayeval gives; larger batches are faster and slightly different.

Prints one JSON line (also to --output): times (wall_s, after_load_s and predict_s leave out the MAP row's own
forward passes, map_s), peak RSS, the prior precision, the log marginal likelihood and
MAP / Laplace ACC, ECE (15 bins), NLL and Brier.

  python scripts/bench_laplace_torch.py --convert DIR            # once: GGUF -> f32 safetensors directory
  python scripts/bench_laplace_torch.py ADAPTER --model-dir DIR --fit-limit 16 --limit 16
"""
import argparse
import json
import os
import resource
import sys
import time
import warnings

T0 = time.perf_counter()
os.environ["HF_HUB_OFFLINE"] = "1"
warnings.filterwarnings("ignore")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_transformers import emit, left_padded, load_smollm2, prompt, smollm2_tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = {"train": "obqa/train.jsonl.zst", "test": "obqa/test.jsonl.zst"}


def rows(split, limit):
    import subprocess
    text = subprocess.run(["zstd", "-dc", os.path.join(ROOT, "fixtures/data", FILES[split])],
                          check=True, capture_output=True).stdout.decode()
    return [json.loads(l) for l in text.splitlines() if l.strip()][:limit]


def examples(tok, split, limit):
    out = []
    for r in rows(split, limit):
        text, answers, label = prompt("obqa", r)
        ids = tok.encode(text, add_special_tokens=False).ids
        answer_ids = [tok.encode(a, add_special_tokens=False).ids[-1] for a in answers]
        out.append((ids, answer_ids, label))
    return out


def loader(items, batch_size, pad):
    """A DataLoader of dict batches (input_ids, attention_mask, position_ids, labels), left-padded, in file
    order (laplace-torch takes N from its dataset's length)."""
    def collate(members):
        ids, mask, pos = left_padded([m[0] for m in members], pad)
        return {"input_ids": ids, "attention_mask": mask, "position_ids": pos,
                "labels": torch.tensor([m[2] for m in members])}
    return torch.utils.data.DataLoader(items, batch_size=batch_size, shuffle=False, collate_fn=collate)


class AnswerLogits(torch.nn.Module):
    """dict batch -> the last position's logits at the K answer tokens, (B, K)."""

    def __init__(self, peft_model, answer_ids):
        super().__init__()
        self.peft = peft_model
        self.answer_ids = answer_ids

    def forward(self, batch):
        out = self.peft(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        position_ids=batch["position_ids"], use_cache=False, logits_to_keep=1)
        return out.logits[:, -1, self.answer_ids]


def metrics(probs, labels, bins=15):
    import math
    n = len(labels)
    conf = [max(p) for p in probs]
    pred = [max(range(len(p)), key=p.__getitem__) for p in probs]
    acc = sum(int(a == y) for a, y in zip(pred, labels)) / n
    nll = -sum(math.log(max(p[y], 1e-12)) for p, y in zip(probs, labels)) / n
    brier = sum(sum((q - (1.0 if k == y else 0.0)) ** 2 for k, q in enumerate(p)) for p, y in zip(probs, labels)) / n
    ece = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(conf) if (c > lo or (b == 0 and c >= lo)) and c <= hi]
        if members:
            ece += abs(sum(int(pred[i] == labels[i]) for i in members) / len(members)
                       - sum(conf[i] for i in members) / len(members)) * len(members) / n
    return {"accuracy": acc, "ece": ece, "nll": nll, "brier": brier}


def convert(directory):
    """The GGUF de-quantised once into an f32 safetensors model directory (config, weights, tokenizer files)."""
    from transformers import AutoModelForCausalLM
    gguf_model = load_smollm2()
    # transformers will not save a model it loaded through its GGUF quantizer: the same weights go into a
    # fresh model built from the same config, which saves as any other.
    model = AutoModelForCausalLM.from_config(gguf_model.config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    model.save_pretrained(directory, safe_serialization=True)
    print(f"wrote {directory}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("adapter", nargs="?")
    ap.add_argument("--convert", metavar="DIR", help="write the f32 safetensors model directory and exit")
    ap.add_argument("--model-dir", help="the f32 safetensors directory --convert wrote")
    ap.add_argument("--fit-limit", type=int, default=128)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--fit-batch-size", type=int, default=1)
    ap.add_argument("--predict-batch-size", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--output")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.convert:
        return convert(args.convert)
    if not (args.adapter and args.model_dir):
        ap.error("ADAPTER and --model-dir are needed (or --convert DIR)")

    from laplace import Laplace
    from laplace.curvature import CurvlinopsGGN
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    tok = smollm2_tokenizer()
    pad = tok.token_to_id("<|endoftext|>")
    base = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32, attn_implementation="eager")
    model = PeftModel.from_pretrained(base, args.adapter, is_trainable=True).float().eval()
    fit_items = examples(tok, "train", args.fit_limit)
    test_items = examples(tok, "test", args.limit)
    answer_ids = fit_items[0][1]
    assert all(e[1] == answer_ids for e in fit_items + test_items), "OpenBookQA examples with other answer tokens"
    wrapper = AnswerLogits(model, answer_ids).eval()
    lora = sum(p.numel() for p in wrapper.parameters() if p.requires_grad)
    t_loaded = time.perf_counter()

    la = Laplace(wrapper, "classification", subset_of_weights="all", hessian_structure="kron",
                 backend=CurvlinopsGGN)
    la.fit(loader(fit_items, args.fit_batch_size, pad))
    t_fit = time.perf_counter()
    la.optimize_prior_precision(method="marglik")
    t_prior = time.perf_counter()

    # The MAP row's forward passes are timed apart (map_s) and left out of the predictive's time: laplace-torch's
    # GLM predictive does not return the MAP probabilities, bayeval's does, so the reference is not charged for them.
    map_probs, la_probs, map_s = [], [], 0.0
    for batch in loader(test_items, args.predict_batch_size, pad):
        t = time.perf_counter()
        with torch.no_grad():
            map_probs += torch.softmax(wrapper(batch), -1).tolist()
        map_s += time.perf_counter() - t
        la_probs += la(batch, pred_type="glm", link_approx="probit").detach().tolist()
    t_pred = time.perf_counter()

    labels = [e[2] for e in test_items]
    record = {
        "stack": "laplace-torch", "adapter": args.adapter, "model": args.model_dir, "task": "obqa",
        "fit_examples": len(fit_items), "test_examples": len(test_items), "lora_parameters": lora,
        "fit_batch_size": args.fit_batch_size, "predict_batch_size": args.predict_batch_size,
        "prior_precision": float(la.prior_precision.reshape(-1)[0]),
        "log_marginal_likelihood": float(la.log_marginal_likelihood()),
        "rows": [{"method": "MAP", "metrics": metrics(map_probs, labels)},
                 {"method": "Laplace kron probit", "metrics": metrics(la_probs, labels)}],
        "times": {"load_s": round(t_loaded - T0, 3), "fit_s": round(t_fit - t_loaded, 3),
                  "prior_s": round(t_prior - t_fit, 3), "predict_s": round(t_pred - t_prior - map_s, 3),
                  "map_s": round(map_s, 3), "after_load_s": round(t_pred - t_loaded - map_s, 3),
                  "wall_s": round(time.perf_counter() - T0 - map_s, 3)},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "versions": {m: __import__(m).__version__ for m in ("torch", "transformers", "peft")}
        | {"laplace": __import__("importlib.metadata").metadata.version("laplace-torch")},
    }
    emit(record, args.output)


if __name__ == "__main__":
    main()
