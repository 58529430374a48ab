#!/usr/bin/env python3
"""laplace-torch reference fixtures: Laplace posteriors over LoRA adapter parameters (kron, diag, full GGN).

Run from the repository root with the reference venv:  /work/pyref/bin/python scripts/make_laplace_fixtures.py
Needs: torch (CPU), transformers, peft, laplace-torch 0.3, curvlinops-for-pytorch 3.0.1, numpy, safetensors.
Reads the tiny models and adapters under fixtures/models/ and writes fixtures/laplace/<case>.json (see
fixtures/laplace/SOURCES.md). Deterministic: token ids and labels come from fixed numpy seeds, everything runs on
2 threads with torch's deterministic algorithms, so re-running reproduces every file byte for byte.

For each case, `Laplace(model, "classification", subset_of_weights="all", hessian_structure=H,
backend=CurvlinopsGGN)` is fitted with a DataLoader of batch size 1 over the fit set, for H in kron, diag, full.
The model seen by laplace-torch is a thin wrapper: input = a dict batch {"input_ids": (1, T), "labels": (1,)}
(one sequence alone, no padding, positions 0..T-1), output = (1, K) logits:
- decoder: the LM logits at the LAST position restricted to ANSWER_IDS (K = 4);
- encoder: the classification head's logits (the adapter's modules_to_save copy of the head).
Only the adapter's trainable tensors have requires_grad (peft's is_trainable=True).

Everything except one quantity is produced by laplace-torch's own code. The exception is full's
`upstream_prior_precision`: `optimize_prior_precision` on a FullLaplace takes 100 dense logdet+backward steps
on a P x P matrix (about 20 s per step for P = 8704 on 2 cores), so the script runs laplace-torch's own
`optimize_prior_precision` on a fitted DiagLaplace whose `H` is replaced by the eigenvalues of full's H (for a
scalar prior, log det(H + δI) = Σ log(λ_i + δ), and the scatter / prior terms are identical). The eigenvalues
come from the Gram matrix of the stacked Λ_n^{1/2} J_n (H = Σ_n J_nᵀ Λ_n J_n has rank ≤ N·(K−1)). The script
checks that this spectrum reproduces la.H and full's laplace LML at two prior precisions, and that the same
substitution applied to kron reproduces kron's own optimised prior.
"""
import copy
import importlib.metadata
import json
import os
import sys
import time
import warnings

# peft builds target_modules from a Python set (order follows string hashing); a fixed hash seed keeps every
# run identical (same convention as make_runtime_fixtures.py / make_gradient_fixtures.py).
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")

import numpy as np
import torch
import transformers
import peft
from peft import PeftModel
from safetensors.torch import load_file
from torch.utils.data import DataLoader
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

# laplace-torch 0.3 imports without torchvision (checked); no stub module is needed.
import laplace
from laplace import Laplace
from laplace.curvature import CurvlinopsGGN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_REL = "fixtures/models"
OUT_REL = "fixtures/laplace"
OUT = os.path.join(ROOT, OUT_REL)
VERSIONS = {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "laplace": importlib.metadata.version("laplace-torch"),
            "curvlinops": importlib.metadata.version("curvlinops-for-pytorch"), "numpy": np.__version__}
THREADS = 2
ANSWER_IDS = [10, 20, 30, 40]  # the "K answer tokens" scored on the tiny decoders (as make_runtime_fixtures.py)
PRIORS = (1.0, 0.37)           # prior precisions at which the LML is recorded
FULL_MATRIX_MAX_P = 3000       # write full's P x P Hessian only up to this P
FULL_MAX_P = 20000             # run the full structure only up to this P
LINKS = ("probit", "bridge", "bridge_norm")


# ---------------------------------------------------------------- JSON helpers (as make_gradient_fixtures.py)
def f32(x):
    """float32 values as the shortest decimal that reads back to the same float32."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 0:
        return float(str(np.float32(a)))
    return [f32(v) for v in a]


def f64(x):
    """A scalar (tensor or number) in full double repr (float32 tensors give their exact value)."""
    return float(torch.as_tensor(x).detach().double().reshape(()).item())


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


def np_(t):
    return t.detach().cpu().numpy()


# ---------------------------------------------------------------- model wrappers seen by laplace-torch
class DecoderHead(torch.nn.Module):
    """dict batch -> LM logits at the last position at ANSWER_IDS, shape (B, K). Batches are one sequence.
    With `trimmed`, the model's lm_head already returns only the K answer logits (AnswerRowsLMHead)."""

    def __init__(self, peft_model, trimmed=False):
        super().__init__()
        self.peft = peft_model
        self.columns = slice(None) if trimmed else ANSWER_IDS

    def forward(self, batch):
        logits = self.peft(input_ids=batch["input_ids"], use_cache=False).logits
        return logits[:, -1, self.columns]


class AnswerRowsLMHead(torch.nn.Module):
    """laplace-lora's last_layer (`CustomLMHead_lora` in its run_gpt_laplace.py): peft's LoRA lm_head cut to the
    ANSWER_IDS rows, x -> W[ids] x + s * B[ids] (A x) at every position, with lora_A whole and lora_B's answer
    rows as the only trainable tensors (registered A before B, laplace-lora's order). Written here from that
    description; fp32 as there."""

    def __init__(self, lm):
        super().__init__()
        W = lm.base_layer.weight.detach()[ANSWER_IDS].clone()
        A = lm.lora_A["default"].weight.detach().clone()
        B = lm.lora_B["default"].weight.detach()[ANSWER_IDS].clone()
        self.linear = torch.nn.Linear(W.shape[1], len(ANSWER_IDS), bias=False)
        self.linear.weight = torch.nn.Parameter(W.float(), requires_grad=False)
        self.lora_A = torch.nn.Linear(A.shape[1], A.shape[0], bias=False)
        self.lora_A.weight = torch.nn.Parameter(A.float())
        self.lora_B = torch.nn.Linear(B.shape[1], B.shape[0], bias=False)
        self.lora_B.weight = torch.nn.Parameter(B.float())
        self.scaling = float(lm.scaling["default"])

    def forward(self, x):
        return self.linear(x) + self.lora_B(self.lora_A(x)) * self.scaling


class EncoderHead(torch.nn.Module):
    """dict batch -> the classification head's logits, shape (B, num_labels)."""

    def __init__(self, peft_model):
        super().__init__()
        self.peft = peft_model

    def forward(self, batch):
        return self.peft(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"]).logits


def saved_key(param_name):
    """torch parameter name of a PeftModel -> the key peft writes into adapter_model.safetensors."""
    k = param_name
    k = k.replace(".modules_to_save.default.", ".")
    for part in ("lora_A", "lora_B"):
        k = k.replace(f".{part}.default.weight", f".{part}.weight")
    return k


def parameter_records(wrapper, adapter_dir, head_only=False):
    """One record per trainable tensor, in model.parameters() order (= laplace-torch's order). Checks they are
    exactly the adapter file's keys (except a frozen base layer peft stores alongside, e.g. lm_head)."""
    recs, keys = [], []
    for n, p in wrapper.named_parameters():
        if not p.requires_grad:
            continue
        assert n.startswith("peft."), n
        name = n[len("peft."):]
        key = saved_key(name)
        if name.endswith(".core.weight"):  # a LoRA-XS core (LoraXSCoreLinear), saved as the latent mapping
            key = "base_model.model." + name[:-len(".core.weight")] + ".default_lora_latent_mapping.weight"
        assert key.startswith("base_model.model."), key
        short = key[len("base_model.model."):]
        if short.endswith(".default_lora_latent_mapping.weight"):
            module, factor = short[:-len(".default_lora_latent_mapping.weight")], "core"
        elif short.endswith(".lora_A.weight") or short.endswith(".lora_B.weight"):
            module, factor = short[:-len(".lora_A.weight")], short[-len("A.weight")]
        elif short.endswith(".weight"):
            module, factor = short[:-len(".weight")], "weight"
        elif short.endswith(".bias"):
            module, factor = short[:-len(".bias")], "bias"
        else:
            raise ValueError(short)
        recs.append({"name": name, "module": module, "factor": factor, "shape": list(p.shape)})
        keys.append(key)
    file_keys = set(load_file(os.path.join(adapter_dir, "adapter_model.safetensors")).keys())
    frozen = sorted(file_keys - set(keys))
    # A frozen base layer peft stores alongside (lm_head); with head_only, the LoRA tensors left out of θ.
    assert all(k.endswith(".base_layer.weight") or (head_only and ".lora_" in k) for k in frozen), \
        f"untrained keys in the file: {frozen}"
    extra = sorted(set(keys) - file_keys)
    assert not extra, f"trainable parameters not in the adapter file: {extra}"
    return recs, frozen


def kfac_layout(wrapper):
    """Reproduces laplace's CurvlinopsInterface._get_kron_factors walk: the modules curvlinops maps (every
    nn.Linear holding a trainable tensor), in named_modules order; [G, A] for the weight and, when the bias is
    trainable, a separate [G] entry. Returns [(module name, "weight"|"bias")]."""
    layout = []
    for name, module in wrapper.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        w = module.weight is not None and module.weight.requires_grad
        b = module.bias is not None and module.bias.requires_grad
        if not (w or b):
            continue
        assert w, name
        layout.append((name, "weight"))
        if module.bias is not None:
            assert b, name
            layout.append((name, "bias"))
    return layout


# ---------------------------------------------------------------- laplace helpers
def make_la(wrapper, structure):
    return Laplace(wrapper, "classification", subset_of_weights="all", hessian_structure=structure,
                   backend=CurvlinopsGGN)


def lml_at(la, delta):
    v = la.log_marginal_likelihood(prior_precision=torch.tensor([delta]))
    return f64(v)


def moments(la, tests):
    """f_mu (B, K), f_var (B, K, K) for the test batches with laplace's own Jacobians and functional_variance.
    The Jacobians are taken per example (different lengths); functional_variance runs once on the stack (for
    full it builds the P x P posterior covariance, which is expensive)."""
    Js, fs = [], []
    for x in tests:
        J, f = la.backend.jacobians(x, enable_backprop=False)
        Js.append(J)
        fs.append(f)
    Js = torch.cat(Js, 0)
    f_mu = torch.cat(fs, 0).detach()
    f_var = la.functional_variance(Js).detach()
    return f_mu, f_var


def link_probs(la, f_mu, f_var, link):
    """laplace's own link code (BaseLaplace._glm_forward_call via la.__call__) on given moments: the instance's
    _glm_predictive_distribution is shadowed for the call so the moments are not recomputed."""
    la._glm_predictive_distribution = lambda X, joint=False, diagonal_output=False: (f_mu.clone(), f_var.clone())
    try:
        return la({"input_ids": None}, pred_type="glm", link_approx=link).detach()
    finally:
        del la._glm_predictive_distribution


def glm_record(la, tests, check_direct, with_moments=True):
    f_mu, f_var = moments(la, tests)
    probs = {link: link_probs(la, f_mu, f_var, link) for link in LINKS}
    max_direct = None
    if check_direct:  # the shortcut must equal la(x) called example by example
        max_direct = 0.0
        for i, x in enumerate(tests):
            for link in LINKS:
                d = la(x, pred_type="glm", link_approx=link).detach()
                max_direct = max(max_direct, float((d[0] - probs[link][i]).abs().max()))
        assert max_direct <= 1e-6, f"GLM shortcut differs from la(x) by {max_direct}"
    psum = float((probs["probit"].sum(-1) - 1).abs().max())
    assert psum <= 1e-5, f"probit probabilities do not sum to 1 ({psum})"
    for link in LINKS:
        assert torch.all(torch.isfinite(probs[link])), link
    recs = []
    for i in range(len(tests)):
        r = {link: f32(np_(probs[link][i])) for link in LINKS}
        r["f_var"] = [f32(row) for row in np_(f_var[i])]
        if with_moments:
            r["f_mu"] = f32(np_(f_mu[i]))
        recs.append(r)
    return recs, {"max_abs_diff_shortcut_vs_direct_call": max_direct, "max_abs_probit_sum_minus_1": psum}


def upstream_optimize(la):
    """laplace's defaults: method marglik, init 1.0, Adam lr 0.1, 100 steps, scalar prior (ParametricLaplace)."""
    la.optimize_prior_precision(method="marglik")
    pp = la.prior_precision
    assert pp.shape == (1,), pp.shape
    return pp.detach().clone()


def substituted_optimize(wrapper, loader, eigenvalues, ref_la):
    """laplace's optimize_prior_precision on a fitted DiagLaplace whose H is replaced by `eigenvalues`
    (the spectrum of another structure's H): identical LML for a scalar prior."""
    sub = make_la(wrapper, "diag")
    sub.fit(loader)
    assert torch.equal(sub.mean, ref_la.mean)
    sub.H = eigenvalues.to(dtype=sub.H.dtype).clone()
    sub.loss = ref_la.loss
    pp = upstream_optimize(sub)
    return pp, sub


def kron_eigenvalues(la):
    """All eigenvalues of la.H (KronDecomposed, before τ and the prior): outer products per block."""
    vals = []
    for ls in la.H.eigenvalues:
        vals.append(torch.outer(ls[0], ls[1]).reshape(-1) if len(ls) == 2 else ls[0].reshape(-1))
    return torch.cat(vals)


# ---------------------------------------------------------------- independent checks of the Kron factors
def manual_input_factors(wrapper, layout, loader):
    """A = (1/N) Σ_n (1/T_n) Σ_t a_nt a_ntᵀ for every mapped Linear, from forward pre-hooks (batch size 1;
    T_n = the weight-sharing positions of that layer's input, 1 for a 2-D input)."""
    modules = dict(wrapper.named_modules())
    names = sorted({n for n, _ in layout})
    acc = {n: None for n in names}
    N = len(loader.dataset)
    hooks = []

    def hook(name):
        def fn(mod, inputs):
            x = inputs[0].detach().double()
            positions = int(np.prod(x.shape[1:-1])) if x.ndim > 2 else 1
            x = x.reshape(-1, x.shape[-1])
            c = x.T @ x / (N * positions)
            acc[name] = c if acc[name] is None else acc[name] + c
        return fn

    for n in names:
        hooks.append(modules[n].register_forward_pre_hook(hook(n)))
    try:
        with torch.no_grad():
            for batch in loader:
                wrapper(batch)
    finally:
        for h in hooks:
            h.remove()
    return acc


def rel_max(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))


def full_spectrum(la_full, loader):
    """Eigenvalues of H = Σ_n J_nᵀ Λ_n J_n (float64) from the Gram matrix of the stacked Λ_n^{1/2} J_n, with
    laplace's own Jacobians; checks them against la.H. Returns (eigenvalues float64 tensor of length P, checks)."""
    Bs = []
    for batch in loader:
        J, f = la_full.backend.jacobians(batch)
        p = torch.softmax(f.double(), -1)[0]
        lam = torch.diag(p) - torch.outer(p, p)
        w, V = torch.linalg.eigh(lam)
        sq = V @ torch.diag(w.clamp(min=0).sqrt()) @ V.T
        Bs.append(sq @ J[0].double())
    B = torch.cat(Bs, 0)                     # (N K, P)
    gram = B @ B.T
    ev = torch.linalg.eigvalsh(gram).clamp(min=0)
    P = B.shape[1]
    spectrum = torch.cat([ev.flip(0), torch.zeros(P - ev.numel(), dtype=torch.float64)])
    # la.H vs BᵀB, in row blocks (P x P float64 would be large)
    H = la_full.H
    num, top = 0.0, 0.0
    for s in range(0, P, 1024):
        blk = B.T[s:s + 1024] @ B
        num = max(num, float((H[s:s + 1024].double() - blk).abs().max()))
        top = max(top, float(blk.abs().max()))
    trace_rel = abs(float(torch.diagonal(H).double().sum()) - float(ev.sum())) / float(ev.sum())
    return spectrum, {"max_abs_diff_H_vs_gram_over_max": num / top, "rel_diff_trace": trace_rel,
                      "rank_bound": int(ev.numel())}


def lml_from_spectrum(la, spectrum, delta):
    theta = la.mean.double()
    P = theta.numel()
    return float(-la.loss.double() - 0.5 * (torch.log(spectrum + delta).sum() - P * np.log(delta)
                                             + delta * theta @ theta))


# ---------------------------------------------------------------- one case
def run_case(case, kind, wrapper, fit_items, test_batches, adapter_dir, extra, kron_g_checks):
    t0 = time.time()
    wrapper.eval()
    loader = DataLoader(fit_items, batch_size=1, shuffle=False)
    N = len(fit_items)
    params, frozen = parameter_records(wrapper, adapter_dir,
                                       head_only=extra.get("subset") in ("head", "lm-head", "cores"))
    P = sum(int(np.prod(r["shape"])) for r in params)
    layout = kfac_layout(wrapper)
    # layout <-> parameter order: the j-th Kron entry is the j-th trainable tensor
    named = {n: p for n, p in wrapper.named_parameters()}
    trainable = [n for n, p in wrapper.named_parameters() if p.requires_grad]
    assert [f"{m}.{w}" for m, w in layout] == trainable, "Kron block order != parameter order"

    with torch.no_grad():
        map_logits = [np_(wrapper(b)[0]) for b in loader]

    rec = dict(extra)
    rec.update({"case": case, "kind": kind, "versions": VERSIONS, "adapter": os.path.relpath(adapter_dir, ROOT),
                "parameters": params, "n_params": P, "n_data": N, "frozen_adapter_keys": frozen,
                "map_logits_fit": [f32(z) for z in map_logits],
                "settings": {"likelihood": "classification", "subset_of_weights": "all",
                             "backend": "laplace.curvature.CurvlinopsGGN", "batch_size": 1, "temperature": 1.0,
                             "sigma_noise": 1.0, "prior_mean": 0.0, "damping": False,
                             "prior_precision_values_for_lml": list(PRIORS),
                             "optimize_prior_precision": {"method": "marglik", "init_prior_prec": 1.0,
                                                          "optimizer": "Adam", "lr": 0.1, "n_steps": 100,
                                                          "prior_structure": "scalar"}}})
    checks = {}
    losses = {}

    # ---- kron
    la = make_la(wrapper, "kron")
    la.fit(loader)
    losses["kron"] = f64(la.loss)
    kfacs = la.H_facs.kfacs  # the summed Kron object before decomposition (la.H is its KronDecomposed)
    assert len(kfacs) == len(layout)
    factors = []
    manual_A = manual_input_factors(wrapper, layout, loader)
    max_A = 0.0
    for (mname, what), F, prm in zip(layout, kfacs, params):
        shape = named[f"{mname}.{what}"].shape
        if what == "weight":
            assert len(F) == 2 and F[0].shape == (shape[0], shape[0]) and F[1].shape == (shape[1], shape[1])
            max_A = max(max_A, rel_max(np_(F[1]), np_(manual_A[mname])))
            factors.append({"module": prm["module"], "factor": prm["factor"],
                            "G": [f32(r) for r in np_(F[0])], "A": [f32(r) for r in np_(F[1])]})
        else:
            assert len(F) == 1 and F[0].shape == (shape[0], shape[0])
            factors.append({"module": prm["module"], "factor": prm["factor"], "G": [f32(r) for r in np_(F[0])]})
    assert max_A < 1e-5, f"{case}: Kron input factors differ from the manual ones ({max_A})"
    checks["kron_A_vs_manual_max_rel"] = max_A
    checks.update(kron_g_checks(wrapper, layout, kfacs, loader))

    kron = {"factors": factors, "log_marginal_likelihood": {str(d): lml_at(la, d) for d in PRIORS}}
    for v in kron["log_marginal_likelihood"].values():
        assert np.isfinite(v), f"{case}: kron LML not finite"
    la.prior_precision = torch.tensor([1.0])
    kron["glm"], c = glm_record(la, test_batches, check_direct=True)
    checks["kron_glm"] = c
    # substitution check (the method used for full's upstream prior)
    kron_spec = kron_eigenvalues(la)
    la2 = make_la(wrapper, "kron")  # fresh fit
    la2.fit(loader)
    pp = upstream_optimize(la2)
    kron["upstream_prior_precision"] = f64(pp)
    kron["log_marginal_likelihood_at_upstream"] = f64(la2.log_marginal_likelihood())
    kron["glm_at_upstream"], _ = glm_record(la2, test_batches, check_direct=True, with_moments=False)
    pp_sub, _ = substituted_optimize(wrapper, loader, kron_spec, la2)
    checks["kron_upstream_prior_vs_substituted_rel"] = abs(f64(pp_sub) - f64(pp)) / f64(pp)
    assert checks["kron_upstream_prior_vs_substituted_rel"] < 1e-4, checks
    rec["kron"] = kron
    rec["loss"] = f64(la.loss)
    print(f"{case}: P {P}, kron done ({time.time() - t0:.1f} s); LML(1) {kron['log_marginal_likelihood']['1.0']:.6f}"
          f", upstream δ {kron['upstream_prior_precision']:.6f}")

    # ---- diag
    la = make_la(wrapper, "diag")
    la.fit(loader)
    losses["diag"] = f64(la.loss)
    diag_h = la.H.detach().clone()
    diag = {"diagonal": f32(np_(diag_h)), "log_marginal_likelihood": {str(d): lml_at(la, d) for d in PRIORS}}
    la.prior_precision = torch.tensor([1.0])
    diag["glm"], c = glm_record(la, test_batches, check_direct=True)
    checks["diag_glm"] = c
    la2 = make_la(wrapper, "diag")
    la2.fit(loader)
    pp = upstream_optimize(la2)
    diag["upstream_prior_precision"] = f64(pp)
    diag["log_marginal_likelihood_at_upstream"] = f64(la2.log_marginal_likelihood())
    diag["glm_at_upstream"], _ = glm_record(la2, test_batches, check_direct=True, with_moments=False)
    rec["diag"] = diag
    print(f"{case}: diag done ({time.time() - t0:.1f} s); LML(1) {diag['log_marginal_likelihood']['1.0']:.6f}, "
          f"upstream δ {diag['upstream_prior_precision']:.6f}")

    # ---- full
    if P <= FULL_MAX_P:
        la = make_la(wrapper, "full")
        la.fit(loader)
        losses["full"] = f64(la.loss)
        H = la.H
        hd = torch.diagonal(H).detach().double()
        d = (hd - diag_h.double()).abs()
        diag_rel = float(d.max() / diag_h.double().abs().max())
        big = diag_h.double().abs() > 1e-3 * diag_h.double().abs().max()
        diag_rel_elem = float((d[big] / diag_h.double().abs()[big]).max())
        print(f"{case}: diag(full H) vs diag H: max abs diff / max {diag_rel:.2e}, "
              f"max elementwise rel (entries > 1e-3 max) {diag_rel_elem:.2e}")
        assert diag_rel <= 1e-5, f"{case}: diag vs diag(full) {diag_rel}"
        checks["diag_vs_full_diagonal_max_abs_over_max"] = diag_rel
        checks["diag_vs_full_diagonal_max_rel_entries_above_1e-3_max"] = diag_rel_elem
        full = {"log_marginal_likelihood": {str(d): lml_at(la, d) for d in PRIORS}}
        if P <= FULL_MATRIX_MAX_P:
            full["hessian"] = [f32(r) for r in np_(H)]
        la.prior_precision = torch.tensor([1.0])
        full["glm"], c = glm_record(la, test_batches, check_direct=False)
        checks["full_glm"] = c
        spectrum, c = full_spectrum(la, loader)
        assert c["max_abs_diff_H_vs_gram_over_max"] < 1e-5 and c["rel_diff_trace"] < 1e-5, c
        c["lml_from_spectrum_rel_diff"] = {
            str(dl): abs(lml_from_spectrum(la, spectrum, dl) - full["log_marginal_likelihood"][str(dl)])
            / abs(full["log_marginal_likelihood"][str(dl)]) for dl in PRIORS}
        assert max(c["lml_from_spectrum_rel_diff"].values()) < 1e-5, c
        checks["full_spectrum"] = c
        pp, _ = substituted_optimize(wrapper, loader, spectrum.float(), la)
        full["upstream_prior_precision"] = f64(pp)
        full["upstream_prior_precision_method"] = (
            "laplace's optimize_prior_precision(method='marglik') defaults, run on a fitted DiagLaplace whose H "
            "is the eigenvalue vector of this H (float32); see SOURCES.md")
        full["log_marginal_likelihood_at_upstream"] = f64(la.log_marginal_likelihood(prior_precision=pp))
        full["glm_at_upstream"], _ = glm_record(la, test_batches, check_direct=False, with_moments=False)
        rec["full"] = full
        print(f"{case}: full done ({time.time() - t0:.1f} s); LML(1) {full['log_marginal_likelihood']['1.0']:.6f}, "
              f"upstream δ {full['upstream_prior_precision']:.6f}")

    vals = list(losses.values())
    assert max(vals) - min(vals) <= 1e-5 * abs(vals[0]), losses
    checks["loss_by_structure"] = losses
    rec["checks"] = checks
    dump(os.path.join(OUT, case + ".json"), rec)
    print(f"{case}: written ({time.time() - t0:.1f} s); loss {rec['loss']:.6f}")
    return rec


# ---------------------------------------------------------------- decoder case
def decoder_g_checks(wrapper, layout, kfacs, loader):
    """The lm_head LoRA factors' G have closed forms: only the last position's answer logits depend on them.
    lm_head.lora_B: G = s² Σ_n E Λ_n Eᵀ; lm_head.lora_A: G = s² Σ_n Bᵀ E Λ_n Eᵀ B (E selects ANSWER_IDS)."""
    lm = wrapper.peft.base_model.model.lm_head
    s = float(lm.scaling["default"])
    Bw = lm.lora_B["default"].weight.detach().double()
    V = Bw.shape[0]
    GB = torch.zeros(V, V, dtype=torch.float64)
    with torch.no_grad():
        for batch in loader:
            p = torch.softmax(wrapper(batch)[0].double(), -1)
            lam = torch.diag(p) - torch.outer(p, p)
            E = torch.zeros(V, len(ANSWER_IDS), dtype=torch.float64)
            E[ANSWER_IDS, range(len(ANSWER_IDS))] = 1.0
            GB += s * s * E @ lam @ E.T
    GA = Bw.T @ GB @ Bw
    idx = {n: i for i, (n, _) in enumerate(layout)}
    gb = kfacs[idx["peft.base_model.model.lm_head.lora_B.default"]][0]
    ga = kfacs[idx["peft.base_model.model.lm_head.lora_A.default"]][0]
    r = {"kron_G_lm_head_lora_B_vs_closed_form_rel": rel_max(np_(gb), GB.numpy()),
         "kron_G_lm_head_lora_A_vs_closed_form_rel": rel_max(np_(ga), GA.numpy()), "lora_scaling": s}
    assert max(r["kron_G_lm_head_lora_B_vs_closed_form_rel"], r["kron_G_lm_head_lora_A_vs_closed_form_rel"]) < 1e-5, r
    return r


def decoder_data(rng, vocab):
    """The decoder cases' fit and test sequences (ids in [3, vocab)) and labels in [0, K), drawn in that order."""
    fit_seqs = [rng.integers(3, vocab, size=n).tolist() for n in (3, 7, 12, 5, 9, 4)]
    test_seqs = [rng.integers(3, vocab, size=n).tolist() for n in (6, 3, 11, 8)]
    fit_labels = rng.integers(0, len(ANSWER_IDS), size=len(fit_seqs)).tolist()
    test_labels = rng.integers(0, len(ANSWER_IDS), size=len(test_seqs)).tolist()
    fit_items = [{"input_ids": torch.tensor(s), "labels": torch.tensor(y)} for s, y in zip(fit_seqs, fit_labels)]
    tests = [{"input_ids": torch.tensor([s]), "labels": torch.tensor([y])} for s, y in zip(test_seqs, test_labels)]
    return fit_items, tests, fit_seqs, fit_labels, test_seqs, test_labels


def lm_head_rows_g_checks(wrapper, layout, kfacs, loader):
    """The trimmed head's G have closed forms: lora_B (answer rows): G = s² Σ_n Λ_n; lora_A: G = s² Σ_n B_idsᵀ Λ_n B_ids."""
    head = wrapper.peft.base_model.model.lm_head
    s, Bw = head.scaling, head.lora_B.weight.detach().double()
    GB = torch.zeros(len(ANSWER_IDS), len(ANSWER_IDS), dtype=torch.float64)
    with torch.no_grad():
        for batch in loader:
            p = torch.softmax(wrapper(batch)[0].double(), -1)
            GB += s * s * (torch.diag(p) - torch.outer(p, p))
    idx = {n: i for i, (n, _) in enumerate(layout)}
    gb = kfacs[idx["peft.base_model.model.lm_head.lora_B"]][0]
    ga = kfacs[idx["peft.base_model.model.lm_head.lora_A"]][0]
    r = {"kron_G_lm_head_rows_lora_B_vs_closed_form_rel": rel_max(np_(gb), GB.numpy()),
         "kron_G_lm_head_rows_lora_A_vs_closed_form_rel": rel_max(np_(ga), (Bw.T @ GB @ Bw).numpy())}
    assert max(r.values()) < 1e-5, r
    return r


def make_decoder(name, seed, lm_head_rows=False):
    base = AutoModelForCausalLM.from_pretrained(os.path.join(MODELS_REL, name), dtype=torch.float32,
                                                attn_implementation="eager")
    adapter_dir = os.path.join(ROOT, MODELS_REL, name + "-adapter")
    model = PeftModel.from_pretrained(base, adapter_dir, is_trainable=True).float().eval()
    wrapper = DecoderHead(model).eval()
    # Loaded this way, the model must reproduce make_runtime_fixtures.py's adapter logits.
    ref = json.load(open(os.path.join(MODELS_REL, name + "-reference.json")))
    with torch.no_grad():
        diff = max(float(np.max(np.abs(np_(wrapper({"input_ids": torch.tensor([s])})[0])
                                       - np.array(r["answer_logits"]))))
                   for s, r in zip(ref["sequences"], ref["adapter_applied"]))
    assert diff < 1e-5, f"{name}: logits differ from {name}-reference.json by {diff}"
    if lm_head_rows:
        # bayeval's --subset lm-head: only the trimmed head's LoRA trains; the answer logits are unchanged.
        for p in wrapper.parameters():
            p.requires_grad_(False)
        probe = {"input_ids": torch.tensor([ref["sequences"][0]])}
        with torch.no_grad():
            before = wrapper(probe)
        model.base_model.model.lm_head = AnswerRowsLMHead(model.base_model.model.lm_head)
        wrapper = DecoderHead(model, trimmed=True).eval()
        with torch.no_grad():
            assert float(torch.max(torch.abs(wrapper(probe) - before))) < 1e-5

    rng = np.random.default_rng(seed)
    vocab = model.config.vocab_size
    fit_items, tests, fit_seqs, fit_labels, test_seqs, test_labels = decoder_data(rng, vocab)
    extra = {"model": f"{MODELS_REL}/{name}", "answer_ids": ANSWER_IDS, "seed": seed,
             "fit": {"sequences": fit_seqs, "labels": fit_labels},
             "test": {"sequences": test_seqs, "labels": test_labels},
             "reference_logits_max_abs_diff": diff}
    if lm_head_rows:
        extra["subset"] = "lm-head"
        return run_case(name + "-lm-head", "decoder", wrapper, fit_items, tests, adapter_dir, extra,
                        lm_head_rows_g_checks)
    return run_case(name, "decoder", wrapper, fit_items, tests, adapter_dir, extra, decoder_g_checks)


# ---------------------------------------------------------------- LoRA-XS core case
class LoraXSCoreLinear(torch.nn.Module):
    """base(x) + s · B R (A x) with A (r×in) and B (out×r) frozen buffers and the core R an nn.Linear (r×r), so
    curvlinops maps it as a layer: its input is A x, its output gradient s·Bᵀ ∂L/∂y (bayeval's core event)."""

    def __init__(self, base, a, b, core, scaling):
        super().__init__()
        self.base = base
        self.register_buffer("lora_A", a)
        self.register_buffer("lora_B", b)
        self.core = torch.nn.Linear(core.shape[1], core.shape[0], bias=False)
        self.core.weight = torch.nn.Parameter(core)
        self.scaling = scaling

    def forward(self, x):
        return self.base(x) + self.scaling * (self.core(x @ self.lora_A.T) @ self.lora_B.T)


def make_loraxs_decoder(seed):
    """tiny-llama3 with the LoRA-XS adapter of fixtures/gradients (q_proj and v_proj of both layers, r 4): the
    posterior over the four cores R (bayeval's --subset cores), the structure gmum's L-LoRA-XS fits."""
    name = "tiny-llama3"
    adapter_dir = os.path.join(ROOT, "fixtures/gradients/tiny-llama3-loraxs-adapter")
    cfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    scaling = cfg["lora_alpha"] / cfg["r"]
    tensors = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    model = AutoModelForCausalLM.from_pretrained(os.path.join(MODELS_REL, name), dtype=torch.float32,
                                                 attn_implementation="eager").float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    folded = copy.deepcopy(model)
    for i, layer in enumerate(model.model.layers):
        for proj in ("q_proj", "v_proj"):
            prefix = f"base_model.model.model.layers.{i}.self_attn.{proj}"
            a, b = tensors[prefix + ".lora_A.weight"], tensors[prefix + ".lora_B.weight"]
            core = tensors[prefix + ".default_lora_latent_mapping.weight"]
            setattr(layer.self_attn, proj, LoraXSCoreLinear(getattr(layer.self_attn, proj), a, b, core.clone(), scaling))
            with torch.no_grad():
                getattr(folded.model.layers[i].self_attn, proj).weight += scaling * (b @ core @ a)
    wrapper = DecoderHead(model).eval()
    # The module must mean what the file says: folding s·B·R·A into the base weights gives the same logits.
    rng = np.random.default_rng(seed)
    vocab = model.config.vocab_size
    probe = {"input_ids": torch.tensor([rng.integers(3, vocab, size=9).tolist()])}
    with torch.no_grad():
        diff = float(torch.max(torch.abs(wrapper(probe) - DecoderHead(folded)(probe))))
    assert diff < 1e-5, f"LoRA-XS module vs folded weights: {diff}"
    fit_items, tests, fit_seqs, fit_labels, test_seqs, test_labels = decoder_data(rng, vocab)
    extra = {"model": f"{MODELS_REL}/{name}", "answer_ids": ANSWER_IDS, "seed": seed, "subset": "cores",
             "fit": {"sequences": fit_seqs, "labels": fit_labels},
             "test": {"sequences": test_seqs, "labels": test_labels},
             "folded_logits_max_abs_diff": diff}
    return run_case(name + "-loraxs-cores", "decoder", wrapper, fit_items, tests, adapter_dir, extra,
                    lambda *_: {})


# ---------------------------------------------------------------- encoder case
def encoder_g_checks(wrapper, layout, kfacs, loader):
    """The head (modules_to_save copy of `classifier`, a Linear on the pooled output) has closed forms:
    weight: G = Σ_n Λ_n, A = (1/N) Σ_n x_n x_nᵀ; bias: G = Σ_n Λ_n (the same G, stored alone)."""
    head = wrapper.peft.base_model.model.classifier.modules_to_save["default"]
    xs = []
    h = head.register_forward_pre_hook(lambda m, inp: xs.append(inp[0].detach().double()))
    G = 0
    try:
        with torch.no_grad():
            for batch in loader:
                p = torch.softmax(wrapper(batch)[0].double(), -1)
                G = G + torch.diag(p) - torch.outer(p, p)
    finally:
        h.remove()
    X = torch.cat(xs, 0)
    A = X.T @ X / X.shape[0]
    idx = {nw: i for i, nw in enumerate(layout)}
    mname = "peft.base_model.model.classifier.modules_to_save.default"
    kw, kb = kfacs[idx[(mname, "weight")]], kfacs[idx[(mname, "bias")]]
    r = {"kron_G_head_weight_vs_closed_form_rel": rel_max(np_(kw[0]), G.numpy()),
         "kron_A_head_weight_vs_closed_form_rel": rel_max(np_(kw[1]), A.numpy()),
         "kron_G_head_bias_vs_closed_form_rel": rel_max(np_(kb[0]), G.numpy())}
    assert max(r.values()) < 1e-5, r
    return r


def make_encoder(name, seed, cls_id, sep_id, low, vocab, head_only=False):
    base = AutoModelForSequenceClassification.from_pretrained(os.path.join(MODELS_REL, name), dtype=torch.float32,
                                                              attn_implementation="eager")
    adapter_dir = os.path.join(ROOT, MODELS_REL, name + "-adapter")
    model = PeftModel.from_pretrained(base, adapter_dir, is_trainable=True).float().eval()
    wrapper = EncoderHead(model).eval()
    if head_only:
        # Last-layer Laplace (bayeval's --subset head): only the head peft saves whole trains; laplace-torch
        # then sees just its weight and bias (its implicit subset of requires_grad parameters).
        for n, p in wrapper.named_parameters():
            p.requires_grad_("modules_to_save" in n)
    ref = json.load(open(os.path.join(MODELS_REL, name + "-reference.json")))
    ref_types = ref["batch"].get("token_type_ids") or [[0] * len(s) for s in ref["sequences"]]
    with torch.no_grad():
        diff = max(float(np.max(np.abs(np_(wrapper({"input_ids": torch.tensor([s]),
                                                    "token_type_ids": torch.tensor([t[:len(s)]])})[0])
                                       - np.array(r))))
                   for s, t, r in zip(ref["sequences"], ref_types, ref["adapter_applied"]["logits"]))
    assert diff < 1e-5, f"{name}: logits differ from {name}-reference.json by {diff}"

    rng = np.random.default_rng(seed)
    r = lambda n: rng.integers(low, vocab, size=n).tolist()
    fit_seqs = [[cls_id] + r(n) + [sep_id] for n in (1, 5, 10, 3, 7, 2)]
    test_seqs = [[cls_id] + r(n) + [sep_id] for n in (4, 8, 1, 6)]
    K = model.config.num_labels
    fit_labels = rng.integers(0, K, size=len(fit_seqs)).tolist()
    test_labels = rng.integers(0, K, size=len(test_seqs)).tolist()
    fit_items = [{"input_ids": torch.tensor(s), "token_type_ids": torch.zeros(len(s), dtype=torch.long),
                  "labels": torch.tensor(y)} for s, y in zip(fit_seqs, fit_labels)]
    tests = [{"input_ids": torch.tensor([s]), "token_type_ids": torch.zeros(1, len(s), dtype=torch.long),
              "labels": torch.tensor([y])} for s, y in zip(test_seqs, test_labels)]
    extra = {"model": f"{MODELS_REL}/{name}", "num_labels": K, "seed": seed,
             "fit": {"sequences": fit_seqs, "labels": fit_labels},
             "test": {"sequences": test_seqs, "labels": test_labels},
             "token_type_ids": "all 0", "reference_logits_max_abs_diff": diff}
    extra["subset"] = "head" if head_only else "all"
    case = name + ("-head" if head_only else "")
    return run_case(case, "encoder", wrapper, fit_items, tests, adapter_dir, extra, encoder_g_checks)


def main():
    os.chdir(ROOT)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    # Deterministic mode also fills every new uninitialised tensor with NaN; that costs milliseconds per op
    # in laplace's Kron logdet loop (and changes no result), so it is switched off.
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.manual_seed(0)  # nothing here draws from torch's RNG; set anyway
    os.makedirs(OUT, exist_ok=True)
    t = time.time()
    # Cases named on the command line, or all of them.
    wanted = set(sys.argv[1:]) or {"tiny-llama3", "tiny-llama3-lm-head", "tiny-llama3-loraxs-cores", "tiny-bert",
                                   "tiny-bert-head"}
    if "tiny-llama3" in wanted:
        make_decoder("tiny-llama3", 4100)
    if "tiny-llama3-lm-head" in wanted:
        make_decoder("tiny-llama3", 4100, lm_head_rows=True)
    if "tiny-llama3-loraxs-cores" in wanted:
        make_loraxs_decoder(4200)
    # BERT: [CLS] 2, [SEP] 3, ordinary ids in [4, 128).
    if "tiny-bert" in wanted:
        make_encoder("tiny-bert", 6100, 2, 3, 4, 128)
    if "tiny-bert-head" in wanted:
        make_encoder("tiny-bert", 6100, 2, 3, 4, 128, head_only=True)
    print(f"fixtures written under {OUT} in {time.time() - t:.1f} s")


if __name__ == "__main__":
    main()
