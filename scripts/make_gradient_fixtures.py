#!/usr/bin/env python3
"""PyTorch-autograd reference gradients of a classification loss with respect to LoRA adapter parameters.

Run from the repository root:  python3 scripts/make_gradient_fixtures.py
Needs: numpy, torch (CPU), transformers, peft, safetensors.
Reads the tiny models and adapters under fixtures/models/ (written by scripts/make_runtime_fixtures.py) and writes
everything under fixtures/gradients/ (see fixtures/gradients/SOURCES.md): one JSON file per case and the LoRA-XS
adapter directory tiny-llama3-loraxs-adapter/. Deterministic: token ids, labels and the LoRA-XS tensors come from
fixed seeds, everything runs on 2 threads with torch's deterministic algorithms, so re-running reproduces every
file byte for byte.

Losses (the Swift side implements exactly these):
- decoder: B sequences, each run alone (batch 1, no padding, positions 0..T-1); z_i = logits at the LAST
  position restricted to ANSWER_IDS (K = 4); loss = mean_i (logsumexp(z_i) - z_i[y_i]).
- encoder: B sequences ([CLS] ... [SEP] / <s> ... </s>), each run alone, z_i = the classification head's
  logits (the adapter's modules_to_save copy of the head); loss = mean_i (logsumexp(z_i) - z_i[y_i]).
Gradients are taken in float32 (model.float(), eval mode) with respect to every trainable tensor of the adapter
file; a float64 copy of each model gives the float64 gradients the float32 ones are compared with, and central
differences in float64 check three entries of one tensor per case.
"""
import contextlib
import copy
import json
import os
import shutil
import sys

# peft builds target_modules from a Python set (order follows string hashing); a fixed hash seed keeps every
# run identical (same convention as make_runtime_fixtures.py).
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import safetensors
import torch
import transformers
import peft
from peft import PeftModel
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_REL = "fixtures/models"
OUT_REL = "fixtures/gradients"
OUT = os.path.join(ROOT, OUT_REL)
VERSIONS = {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "safetensors": safetensors.__version__, "numpy": np.__version__}
THREADS = 2
ANSWER_IDS = [10, 20, 30, 40]  # the "K answer tokens" scored on the tiny decoders (as make_runtime_fixtures.py)
FD_STEP = 1e-5                 # central-difference step (float64)


# ---------------------------------------------------------------- JSON helpers (as make_runtime_fixtures.py)
def f32(x):
    """float32 values as the shortest decimal that reads back to the same float32."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 0:
        return float(str(np.float32(a)))
    return [f32(v) for v in a]


def ints(x):
    a = np.asarray(x)
    return int(a) if a.ndim == 0 else [ints(v) for v in a]


def _render(obj, indent):
    # Objects one key per line (sorted); lists of scalars on one line.
    pad = " " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f'{pad} {json.dumps(str(k))}: {_render(v, indent + 1)}' for k, v in sorted(obj.items())]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in obj):
            return "[" + ", ".join(json.dumps(v) for v in obj) + "]"
        return "[\n" + ",\n".join(pad + " " + _render(v, indent + 1) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj)


def dump(path, obj):
    with open(path, "w") as f:
        f.write(_render(obj, 0))
        f.write("\n")


# ---------------------------------------------------------------- float64 without float32 detours
@contextlib.contextmanager
def exact_float64():
    """transformers' LLaMA/Qwen2 code computes RMSNorm and the attention softmax in float32 whatever the input
    dtype; in a float64 copy that rounding makes the loss a step function at the 1e-8 level and ruins central
    differences. Inside this block both stay in float64 for float64 inputs (float32 inputs take the original
    code unchanged). The rotary cos/sin are still computed in float32, but they do not depend on any trained
    parameter, so they are constants of the float64 function."""
    from transformers.models.llama.modeling_llama import LlamaRMSNorm
    from transformers.models.qwen2.modeling_qwen2 import Qwen2RMSNorm
    orig_softmax = torch.nn.functional.softmax
    orig_norms = {c: c.forward for c in (LlamaRMSNorm, Qwen2RMSNorm)}

    def softmax(x, dim=None, _stacklevel=3, dtype=None):
        if x.dtype == torch.float64 and dtype == torch.float32:
            dtype = torch.float64
        return orig_softmax(x, dim=dim, _stacklevel=_stacklevel, dtype=dtype)

    def make_norm(orig):
        def forward(self, h):
            if h.dtype != torch.float64:
                return orig(self, h)
            return self.weight * (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))
        return forward

    torch.nn.functional.softmax = softmax
    for c, f in orig_norms.items():
        c.forward = make_norm(f)
    try:
        yield
    finally:
        torch.nn.functional.softmax = orig_softmax
        for c, f in orig_norms.items():
            c.forward = f


# ---------------------------------------------------------------- losses and gradients
def mean_ce(logits, labels):
    """mean_i (logsumexp(z_i) - z_i[y_i]) over a list of 1-D logit tensors."""
    terms = [torch.logsumexp(z, 0) - z[y] for z, y in zip(logits, labels)]
    return torch.stack(terms).mean()


def decoder_logits(model, seqs):
    out = []
    for s in seqs:
        lg = model(input_ids=torch.tensor([s]), use_cache=False).logits
        out.append(lg[0, -1, ANSWER_IDS])
    return out


def encoder_logits(model, seqs, types):
    out = []
    for s, t in zip(seqs, types):
        out.append(model(input_ids=torch.tensor([s]), token_type_ids=torch.tensor([t])).logits[0])
    return out


def saved_key(param_name):
    """torch parameter name of a PeftModel -> the key peft writes into adapter_model.safetensors."""
    k = param_name
    k = k.replace(".modules_to_save.default.", ".")
    for part in ("lora_A", "lora_B"):
        k = k.replace(f".{part}.default.weight", f".{part}.weight")
    return k


def loss_and_grads(model, params, forward, labels):
    """params: {saved key: torch parameter}. Returns (logits list, loss, {key: grad numpy})."""
    model.zero_grad(set_to_none=True)
    logits = forward(model)
    loss = mean_ce(logits, labels)
    loss.backward()
    grads = {}
    for k, p in params.items():
        assert p.grad is not None, f"{k}: no gradient"
        grads[k] = p.grad.detach().clone().numpy()
    return [z.detach().numpy() for z in logits], loss.detach().numpy(), grads


def fd_check(model64, params64, forward, labels, grads64, grads32, key, seed):
    """Central differences (float64) on 3 random entries of `key`; asserts agreement with both autograds."""
    p = params64[key]
    rng = np.random.default_rng(seed)
    flat = rng.choice(p.numel(), size=3, replace=False)
    rows = []
    with torch.no_grad():
        for idx in flat:
            idx = int(idx)
            pos = np.unravel_index(idx, tuple(p.shape))
            old = p[pos].item()
            p[pos] = old + FD_STEP
            lp = mean_ce(forward(model64), labels).item()
            p[pos] = old - FD_STEP
            lm = mean_ce(forward(model64), labels).item()
            p[pos] = old
            fd = (lp - lm) / (2 * FD_STEP)
            g64 = float(grads64[key].reshape(-1)[idx])
            g32 = float(grads32[key].reshape(-1)[idx])
            assert abs(fd - g64) <= 1e-7 + 1e-5 * abs(g64), f"{key}[{idx}]: fd {fd} vs float64 autograd {g64}"
            assert abs(fd - g32) <= 1e-5 + 1e-3 * abs(fd), f"{key}[{idx}]: fd {fd} vs float32 autograd {g32}"
            rows.append({"key": key, "flat_index": idx, "central_difference_f64": fd,
                         "autograd_f64": g64, "autograd_f32": f32(g32)})
    return rows


def compare(grads32, grads64):
    """Over all tensors: largest |g32 - g64|; largest |g32 - g64| / max(|g64|, 1e-3 * max|g64| of that tensor);
    largest |g32 - g64| / max|g64| of that tensor."""
    abs_d, rel_d, norm_d = 0.0, 0.0, 0.0
    for k in grads32:
        a = grads32[k].astype(np.float64)
        b = grads64[k]
        d = np.abs(a - b)
        top = max(float(np.max(np.abs(b))), 1e-300)
        abs_d = max(abs_d, float(d.max()))
        rel_d = max(rel_d, float(np.max(d / np.maximum(np.abs(b), 1e-3 * top))))
        norm_d = max(norm_d, float(d.max()) / top)
    return abs_d, rel_d, norm_d


def grad_record(grads):
    return {k: {"shape": list(g.shape), "values": f32(g.reshape(-1))} for k, g in sorted(grads.items())}


def run_case(case, kind, model, params, forward, labels, fd_key, seed, extra):
    """model/params in float32; a float64 deep copy gives the float64 gradients and the FD check."""
    logits, loss, grads = loss_and_grads(model, params, forward, labels)
    model64 = copy.deepcopy(model).double()
    names = {id(p): n for n, p in model.named_parameters()}
    p64 = dict(model64.named_parameters())
    params64 = {k: p64[names[id(p)]] for k, p in params.items()}
    with exact_float64():
        _, loss64, grads64 = loss_and_grads(model64, params64, forward, labels)
        fd = fd_check(model64, params64, forward, labels, grads64, grads, fd_key, seed)
    abs_d, rel_d, norm_d = compare(grads, grads64)
    assert rel_d < 1e-2, f"{case}: float32 gradients far from float64 ({rel_d})"

    zero = [k for k, g in grads.items() if not np.any(g)]
    assert not zero, f"{case}: all-zero gradients for {zero}"
    for k, g in grads.items():
        assert np.all(np.isfinite(g)), f"{case}: non-finite gradient in {k}"

    rec = dict(extra)
    rec.update({
        "case": case, "kind": kind, "labels": [int(y) for y in labels],
        "logits": [f32(z) for z in logits], "loss": f32(loss),
        "gradients": grad_record(grads),
        "checks": {"loss_f64": float(loss64),
                   "max_abs_diff_grad_f32_vs_f64": abs_d,
                   "max_rel_diff_grad_f32_vs_f64": rel_d,
                   "max_abs_diff_grad_f32_vs_f64_over_tensor_max": norm_d,
                   "finite_difference": fd, "finite_difference_step": FD_STEP},
        "versions": VERSIONS,
    })
    dump(os.path.join(OUT, case + ".json"), rec)
    big = max(float(np.max(np.abs(g))) for g in grads.values())
    print(f"{case:26s} loss {float(loss):.6f}  {len(grads):2d} gradient tensors  max|grad| {big:.4g}  "
          f"f32-vs-f64 rel {rel_d:.1e} (/max {norm_d:.1e})  fd ok ({len(fd)} entries)")
    return rec


def trainable_params(peft_model, adapter_dir):
    """{saved key: parameter} for every trainable parameter; checks they cover the adapter file's keys."""
    params = {}
    for n, p in peft_model.named_parameters():
        if p.requires_grad:
            k = saved_key(n)
            assert k not in params, k
            params[k] = p
    file_keys = set(load_file(os.path.join(adapter_dir, "adapter_model.safetensors")).keys())
    frozen = sorted(file_keys - set(params))
    # The only saved-but-frozen tensor peft writes is a base layer it stores with the adapter (lm_head).
    assert all(k.endswith(".base_layer.weight") for k in frozen), f"untrained keys in the file: {frozen}"
    extra = sorted(set(params) - file_keys)
    assert not extra, f"trainable parameters not in the adapter file: {extra}"
    return params, frozen


# ---------------------------------------------------------------- decoders
def load_decoder(name):
    base = AutoModelForCausalLM.from_pretrained(os.path.join(MODELS_REL, name), dtype=torch.float32,
                                                attn_implementation="eager")
    adapter_dir = os.path.join(MODELS_REL, name + "-adapter")
    model = PeftModel.from_pretrained(base, adapter_dir, is_trainable=True).float().eval()
    return model, adapter_dir


def decoder_inputs(vocab, seed, header):
    rng = np.random.default_rng(seed)
    if header:
        head = rng.integers(3, vocab, size=4).tolist()
        seqs = [head + rng.integers(3, vocab, size=n).tolist() for n in (1, 5, 2, 4, 3)]
    else:
        head = []
        seqs = [rng.integers(3, vocab, size=n).tolist() for n in (3, 9, 5, 4, 7)]
    labels = rng.integers(0, len(ANSWER_IDS), size=len(seqs)).tolist()
    return head, seqs, labels


def make_decoder(name, seed):
    model, adapter_dir = load_decoder(name)
    params, frozen = trainable_params(model, adapter_dir)
    # Loaded this way, the model must reproduce make_runtime_fixtures.py's adapter logits.
    ref = json.load(open(os.path.join(MODELS_REL, name + "-reference.json")))
    with torch.no_grad():
        z = decoder_logits(model, ref["sequences"])
    diff = max(float(np.max(np.abs(a.numpy() - np.array(r["answer_logits"]))))
               for a, r in zip(z, ref["adapter_applied"]))
    assert diff < 1e-5, f"{name}: logits differ from {name}-reference.json by {diff}"
    fd_key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    recs = []
    for header in (False, True):
        head, seqs, labels = decoder_inputs(model.config.vocab_size, seed + (1 if header else 0), header)
        case = name + ("-header" if header else "")
        extra = {"model": f"{MODELS_REL}/{name}", "adapter": adapter_dir, "sequences": seqs, "header": head,
                 "answer_ids": ANSWER_IDS, "frozen_adapter_keys": frozen}
        recs.append(run_case(case, "decoder", model, params, lambda m: decoder_logits(m, seqs), labels, fd_key,
                             seed + 10 + header, extra))
    return recs


# ---------------------------------------------------------------- encoders
def make_encoder(name, seed, cls_id, sep_id, pair_sep, low, vocab, pair_types):
    base = AutoModelForSequenceClassification.from_pretrained(os.path.join(MODELS_REL, name), dtype=torch.float32,
                                                              attn_implementation="eager")
    adapter_dir = os.path.join(MODELS_REL, name + "-adapter")
    model = PeftModel.from_pretrained(base, adapter_dir, is_trainable=True).float().eval()
    params, frozen = trainable_params(model, adapter_dir)
    assert any(".lora_" not in k for k in params), f"{name}: no head among the trainable tensors"
    ref = json.load(open(os.path.join(MODELS_REL, name + "-reference.json")))
    ref_types = ref["batch"].get("token_type_ids") or [[0] * len(s) for s in ref["sequences"]]
    with torch.no_grad():
        z = encoder_logits(model, ref["sequences"], [t[:len(s)] for s, t in zip(ref["sequences"], ref_types)])
    diff = max(float(np.max(np.abs(a.numpy() - np.array(r)))) for a, r in zip(z, ref["adapter_applied"]["logits"]))
    assert diff < 1e-5, f"{name}: logits differ from {name}-reference.json by {diff}"
    rng = np.random.default_rng(seed)
    r = lambda n: rng.integers(low, vocab, size=n).tolist()
    seqs, types = [], []
    for n in (3, 8, 5, 10):
        seqs.append([cls_id] + r(n) + [sep_id])
        types.append([0] * (n + 2))
    a, b = r(4), r(5)
    seqs.append([cls_id] + a + pair_sep + b + [sep_id])  # pair-shaped
    types.append([0] * (len(a) + 1 + len(pair_sep)) + [pair_types] * (len(b) + 1))
    labels = rng.integers(0, model.config.num_labels, size=len(seqs)).tolist()
    extra = {"model": f"{MODELS_REL}/{name}", "adapter": adapter_dir, "sequences": seqs, "token_types": types,
             "frozen_adapter_keys": frozen}
    fd_key = sorted(k for k in params if k.endswith(".lora_A.weight"))[0]
    return run_case(name, "encoder", model, params, lambda m: encoder_logits(m, seqs, types), labels, fd_key,
                    seed + 10, extra)


# ---------------------------------------------------------------- LoRA-XS on tiny-llama3
class LoraXSLinear(torch.nn.Module):
    """base(x) + s · ((x Aᵀ) Rᵀ) Bᵀ, i.e. ΔW = s·B·R·A with A (r×in) and B (out×r) frozen, R (r×r) trainable."""

    def __init__(self, base, a, b, core, scaling):
        super().__init__()
        self.base = base
        self.register_buffer("lora_A", a)
        self.register_buffer("lora_B", b)
        self.core = torch.nn.Parameter(core)
        self.scaling = scaling

    def forward(self, x):
        return self.base(x) + self.scaling * (((x @ self.lora_A.T) @ self.core.T) @ self.lora_B.T)


def make_loraxs(seed):
    name = "tiny-llama3"
    r, alpha = 4, 8
    scaling = alpha / r
    model = AutoModelForCausalLM.from_pretrained(os.path.join(MODELS_REL, name), dtype=torch.float32,
                                                 attn_implementation="eager").float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(seed)
    tensors, params, folded = {}, {}, {}
    for i, layer in enumerate(model.model.layers):
        for proj in ("q_proj", "v_proj"):
            lin = getattr(layer.self_attn, proj)
            a = torch.randn(r, lin.in_features, generator=g) * 0.2
            b = torch.randn(lin.out_features, r, generator=g) * 0.2
            core = torch.randn(r, r, generator=g) * 0.5
            prefix = f"base_model.model.model.layers.{i}.self_attn.{proj}"
            tensors[f"{prefix}.lora_A.weight"] = a.contiguous()
            tensors[f"{prefix}.lora_B.weight"] = b.contiguous()
            tensors[f"{prefix}.default_lora_latent_mapping.weight"] = core.contiguous()
            folded[f"model.layers.{i}.self_attn.{proj}.weight"] = scaling * (b @ core @ a)
            wrapped = LoraXSLinear(lin, a.clone(), b.clone(), core.clone(), scaling)
            setattr(layer.self_attn, proj, wrapped)
            params[f"{prefix}.default_lora_latent_mapping.weight"] = wrapped.core

    d = os.path.join(OUT, name + "-loraxs-adapter")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(ROOT, MODELS_REL, name + "-adapter", "adapter_config.json")) as f:
        cfg = json.load(f)
    cfg.update({"r": r, "lora_alpha": alpha, "target_modules": ["q_proj", "v_proj"], "use_rslora": False,
                "base_model_name_or_path": f"{MODELS_REL}/{name}", "modules_to_save": None})
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True))
    save_file(tensors, os.path.join(d, "adapter_model.safetensors"), metadata={"format": "pt"})

    head, seqs, labels = decoder_inputs(model.config.vocab_size, seed + 1, header=False)
    forward = lambda m: decoder_logits(m, seqs)

    # The wrapper must mean what the file says: fold s·B·R·A into the base weights and compare logits; the
    # update must also change the logits noticeably.
    plain = AutoModelForCausalLM.from_pretrained(os.path.join(MODELS_REL, name), dtype=torch.float32,
                                                 attn_implementation="eager").float().eval()
    with torch.no_grad():
        base_logits = torch.stack(forward(plain)).numpy()
        sd = plain.state_dict()
        for k, dw in folded.items():
            sd[k] += dw
        merged = torch.stack(forward(plain)).numpy()
        wrapped = torch.stack(forward(model)).numpy()
    merge_diff = float(np.max(np.abs(merged - wrapped)))
    change = float(np.max(np.abs(wrapped - base_logits)))
    assert merge_diff < 1e-4, f"LoRA-XS wrapper vs merged weights differ by {merge_diff}"
    assert change > 1e-2, f"LoRA-XS update barely changes the logits ({change})"

    rel = os.path.relpath(d, ROOT)
    extra = {"model": f"{MODELS_REL}/{name}", "adapter": rel, "sequences": seqs, "header": head,
             "answer_ids": ANSWER_IDS, "frozen_adapter_keys": sorted(k for k in tensors if k not in params),
             "loraxs": {"rank": r, "lora_alpha": alpha, "scaling": scaling,
                        "delta_w": "scaling * lora_B @ core @ lora_A (core = default_lora_latent_mapping.weight)",
                        "max_abs_diff_logits_wrapped_vs_merged": merge_diff,
                        "max_abs_change_from_adapter": change}}
    fd_key = "base_model.model.model.layers.0.self_attn.q_proj.default_lora_latent_mapping.weight"
    return run_case(name + "-loraxs", "decoder", model, params, forward, labels, fd_key, seed + 10, extra)


def main():
    os.chdir(ROOT)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    make_decoder("tiny-llama3", 1100)
    make_decoder("tiny-qwen2", 2100)
    make_decoder("tiny-llama-linear", 3100)
    # BERT: [CLS] 2, [SEP] 3, ordinary ids in [4, 128); the pair sequence is [CLS] a [SEP] b [SEP] with type 1 on b [SEP].
    make_encoder("tiny-bert", 5100, 2, 3, [3], 4, 128, 1)
    # RoBERTa: <s> 0, </s> 2, ordinary ids in [3, 128); the pair sequence is <s> a </s></s> b </s>, all types 0.
    make_encoder("tiny-roberta-cls", 7100, 0, 2, [2, 2], 3, 128, 0)
    make_loraxs(9100)
    print("fixtures written under", OUT)


if __name__ == "__main__":
    main()
