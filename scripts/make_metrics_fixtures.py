#!/usr/bin/env python3
"""Reference fixtures for bayeval's Metrics target (fixtures/metrics/*.json).

Run from the repository root:  python3 scripts/make_metrics_fixtures.py
Needs: numpy, torch (CPU), torchmetrics (versions are written into every fixture). Deterministic (fixed seeds).

For each probability set and each bin count it records
- accuracy: torchmetrics MulticlassAccuracy(average="micro") and numpy argmax (ties -> lowest index);
- nll: numpy mean of -log(max(p_y, 1e-12)) (torchmetrics is not the reference for NLL);
- brier, mean confidence: numpy;
- ece / mce / classwise ece: (a) torchmetrics as users run it (MulticlassCalibrationError, which casts the
  confidences to float32), (b) torchmetrics' own `_ce_compute` fed float64 confidences, (c) an independent
  numpy implementation of the same rule (searchsorted(edges, c, side="right") - 1 on float64 linspace edges).
  (b) and (c) must agree to 1e-12; bayeval computes in float64, so Swift compares with (c) always and with (a)
  where float32 puts every confidence in the same bin as float64 (`float32_same_bins`).
- the ECE under the "(lo, hi], first bin closed" rule that shared/notes/REFERENCE.md states, as evidence of
  which rule torchmetrics follows (the edge sets are built so the two rules give different values).
bootstrap.json re-implements bayeval's SplitMix64 streams + Lemire bounded draws + numpy "linear" quantiles.
"""
import json
import os
from fractions import Fraction

import numpy as np
import torch
import torchmetrics
from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError
from torchmetrics.functional.classification import binary_calibration_error
from torchmetrics.functional.classification.calibration_error import _ce_compute

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "metrics")
VERSIONS = {"torch": torch.__version__, "torchmetrics": torchmetrics.__version__, "numpy": np.__version__}
BINS = [1, 5, 10, 15, 20]
FLOOR = 1e-12
MASK = (1 << 64) - 1


def dump(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)  # floats are written with repr: full float64 precision
        f.write("\n")


# ------------------------------------------------------------------------------------------- references
def edges64(bins):
    return torch.linspace(0, 1, bins + 1, dtype=torch.float64).numpy()


def bin_index(conf, edges):
    return np.searchsorted(edges, conf, side="right") - 1  # == torch.bucketize(right=True) - 1


def np_calibration(conf, hit, bins):
    """Per-bin (count, sum conf, sum hit) in torchmetrics' layout: B bins + the [1, 1] point bin."""
    idx = bin_index(conf, edges64(bins))
    count = np.bincount(idx, minlength=bins + 1).astype(np.float64)
    csum = np.bincount(idx, weights=conf, minlength=bins + 1)
    hsum = np.bincount(idx, weights=hit, minlength=bins + 1)
    return count, csum, hsum


def np_ece(conf, hit, bins):
    count, csum, hsum = np_calibration(conf, hit, bins)
    return float(np.sum(np.abs(hsum - csum)) / len(conf))


def np_mce(conf, hit, bins):
    count, csum, hsum = np_calibration(conf, hit, bins)
    nz = count > 0
    return float(np.max(np.abs(hsum[nz] / count[nz] - csum[nz] / count[nz])))


def np_ece_lo_hi_closed(conf, hit, bins):
    """REFERENCE.md's rule: first bin [0, e1], then (lo, hi]."""
    idx = np.maximum(np.searchsorted(edges64(bins), conf, side="left") - 1, 0)
    total = 0.0
    for b in range(bins):
        m = idx == b
        total += abs(hit[m].sum() - conf[m].sum())
    return float(total / len(conf))


def metrics(p, y, bins):
    n, k = p.shape
    tp, ty = torch.from_numpy(p), torch.from_numpy(y)
    pred = np.argmax(p, axis=1)
    assert (pred == torch.argmax(tp, dim=1).numpy()).all()
    conf = p[np.arange(n), pred]
    hit = (pred == y).astype(np.float64)
    py = p[np.arange(n), y]
    r = {"bins": bins}
    r["accuracy"] = float(hit.mean())
    r["nll"] = float(np.mean(-np.log(np.maximum(py, FLOOR))))
    r["nll_unclamped"] = float(np.mean(-np.log(py))) if (py > 0).all() else None
    r["brier"] = float(np.mean(np.sum((p - np.eye(k)[y]) ** 2, axis=1)))
    r["mean_confidence"] = float(conf.mean())
    r["ece"] = np_ece(conf, hit, bins)
    r["mce"] = np_mce(conf, hit, bins)
    r["classwise_ece"] = float(np.mean([np_ece(p[:, c], (y == c).astype(np.float64), bins) for c in range(k)]))
    r["ece_lo_hi_closed_rule"] = np_ece_lo_hi_closed(conf, hit, bins)
    count, csum, hsum = np_calibration(conf, hit, bins)
    e = edges64(bins)
    r["reliability"] = [{"lower": float(e[b]) if b < bins else 1.0, "upper": float(e[b + 1]) if b < bins else 1.0,
                         "count": int(count[b]), "mean_confidence": float(csum[b] / count[b]) if count[b] else 0.0,
                         "accuracy": float(hsum[b] / count[b]) if count[b] else 0.0} for b in range(bins + 1)]

    # torchmetrics' own algorithm in float64 must equal the numpy implementation above.
    tconf, thit = torch.from_numpy(conf), torch.from_numpy(hit)
    f64 = {"ece": _ce_compute(tconf, thit, bins, "l1").item(), "mce": _ce_compute(tconf, thit, bins, "max").item(),
           "classwise_ece": float(np.mean([_ce_compute(tp[:, c].clone(), (ty == c).double(), bins, "l1").item()
                                          for c in range(k)]))}
    for key, v in f64.items():
        assert abs(v - r[key]) < 1e-12, (key, v, r[key])

    # torchmetrics as users run it (float32 confidences inside).
    tm = {}
    if k >= 2:
        tm["accuracy"] = MulticlassAccuracy(num_classes=k, average="micro")(tp, ty).item()
        tm["ece"] = MulticlassCalibrationError(num_classes=k, n_bins=bins, norm="l1")(tp, ty).item()
        tm["mce"] = MulticlassCalibrationError(num_classes=k, n_bins=bins, norm="max")(tp, ty).item()
        tm["classwise_ece"] = float(np.mean([binary_calibration_error(tp[:, c].float(), (ty == c).long(), n_bins=bins)
                                             .item() for c in range(k)]))
        assert abs(tm["accuracy"] - r["accuracy"]) < 1e-7
    r["torchmetrics"] = tm
    e32 = torch.linspace(0, 1, bins + 1, dtype=torch.float32)
    same = lambda c: bool(((torch.bucketize(torch.from_numpy(c).float(), e32, right=True) - 1).numpy()
                           == bin_index(c, e)).all())
    top_same = same(conf)
    class_same = all(same(p[:, c].copy()) for c in range(k))
    r["float32_same_bins"] = {"top_label": top_same, "classwise": class_same}
    # Same bins is not enough for 1e-6: torchmetrics also sums in float32 (1000 x 0.2 drifts by 1.9e-6).
    r["torchmetrics_within_1e-6"] = {
        key: bool((class_same if key == "classwise_ece" else top_same) and abs(tm[key] - r[key]) < 1e-6)
        for key in ("ece", "mce", "classwise_ece")}
    return r


def case(name, description, p, y):
    p = np.ascontiguousarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    assert np.all(np.abs(p.sum(axis=1) - 1) <= 1e-12) and (p >= 0).all()
    dump(f"{name}.json", {"name": name, "description": description, "versions": VERSIONS,
                          "classes": int(p.shape[1]), "n": int(p.shape[0]),
                          "probabilities": [float(v) for v in p.reshape(-1)], "labels": [int(v) for v in y],
                          "expected": [metrics(p, y, b) for b in BINS]})
    return p, y


# ------------------------------------------------------------------------------------------- probability sets
def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sample_labels(rng, p):
    return np.array([rng.choice(p.shape[1], p=row / row.sum()) for row in p])


def edge_rows(bins, k, rng):
    """Top-label confidences exactly on float64 edges (> 1/k so they are the top label): two correct examples at
    the edge e and one wrong at e - 0.01. With [lo, hi) bins the edge pair sits alone in an underconfident bin and
    the wrong one alone below it; with (lo, hi] they share a bin, so the two rules give different ECEs (and an
    edge that were binned on the wrong side would show)."""
    rows, labels = [], []
    for e in edges64(bins):
        for conf, correct in ((e, True), (e, True), (e - 0.01, False)):
            if conf <= 1.0 / k:
                continue
            row = np.full(k, (1 - conf) / (k - 1))
            top = rng.integers(k)
            row[top] = conf  # the edge value itself, unrounded; the row sums to 1 within 1e-15
            rows.append(row)
            labels.append(top if correct else (top + 1) % k)
    return np.array(rows), np.array(labels)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240601)

    p = rng.dirichlet(np.ones(2), size=1)
    case("k2_n1", "K=2, one example, Dirichlet(1) probabilities, seeded", p, sample_labels(rng, p))
    p = rng.dirichlet(np.ones(4), size=7)
    case("k4_n7", "K=4, 7 examples, Dirichlet(1), labels drawn from the probabilities", p, sample_labels(rng, p))
    p = softmax(rng.normal(0, 2.0, size=(1000, 5)))
    case("k5_n1000", "K=5, 1000 examples, softmax of N(0, 2^2) logits; labels drawn from softmax(logits / 1.5)"
         " (mildly overconfident)", p, sample_labels(rng, softmax(np.log(p) / 1.5)))
    z = rng.normal(0, 1, size=(1000, 4))
    z[np.arange(1000), rng.integers(4, size=1000)] += 12
    p = softmax(z * 3)
    # A few exact one-hot rows (confidence exactly 1: torchmetrics' point bin), one of them wrong (p(y) = 0).
    p[:6] = np.eye(4)[[0, 1, 2, 3, 0, 1]]
    y = np.where(rng.random(1000) < 0.6, np.argmax(p, axis=1), rng.integers(4, size=1000))
    y[:6] = [0, 1, 2, 3, 3, 1]
    case("k4_n1000_overconfident", "K=4, 1000 near-one-hot rows (softmax of 3·(N(0,1) + 12 on one class)), "
         "top label right ~60 %; rows 0-5 exactly one-hot, row 4 wrong so p(y) = 0 (NLL floor)", p, y)
    case("k4_n7_uniform", "K=4, 7 uniform rows: every argmax is a 4-way tie (-> class 0)",
         np.full((7, 4), 0.25), [0, 1, 2, 3, 0, 0, 1])
    case("k5_n1000_uniform", "K=5, 1000 uniform rows (confidence 0.2, an edge for 5/10/15/20 bins)",
         np.full((1000, 5), 0.2), rng.integers(5, size=1000))
    p, y = edge_rows(15, 2, rng)
    p = np.vstack([p, [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]])
    y = np.concatenate([y, [1, 1, 1]])
    case("edges_b15_k2", "K=2: top-label confidences exactly on torch.linspace(0,1,16) float64 edges (8/15 ... 1), "
         "two correct at each edge and one wrong 0.01 below, plus [1,0] wrong, a 0.5/0.5 tie and [0,1]; probabilities 0.0 and 1.0 "
         "exercise the classwise bins", p, y)
    p, y = edge_rows(10, 4, rng)
    case("edges_b10_k4", "K=4: top-label confidences exactly on linspace(0,1,11) edges 0.3 ... 1, two "
         "correct at each edge, one wrong 0.01 below", p, y)
    p, y = edge_rows(15, 4, rng)
    case("edges_b15_k4", "K=4: top-label confidences exactly on linspace(0,1,16) edges 4/15 ... 1 (includes "
         "1/3, 0.4, 0.6), two correct at each edge, one wrong 0.01 below; float32 puts 0.4 one bin lower", p, y)

    # Bin edges: bayeval's Binning must equal torch.linspace(0, 1, B + 1, float64) bit for bit.
    dump("edges.json", {"versions": VERSIONS,
                        "edges": {str(b): [float(v) for v in edges64(b)] for b in range(1, 101)}})
    bootstrap_fixture()


# ------------------------------------------------------------------------------------------- bootstrap
GAMMA = 0x9E3779B97F4A7C15


def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + GAMMA) & MASK
        return mix(self.state)

    def below(self, bound):
        m = self.next() * bound
        if (m & MASK) < bound:
            threshold = ((1 << 64) - bound) % bound
            while (m & MASK) < threshold:
                m = self.next() * bound
        return m >> 64

    @staticmethod
    def stream(index, seed):
        return SplitMix64(mix((seed + (index + 1) * GAMMA) & MASK))


def bootstrap_fixture():
    with open(os.path.join(OUT, "k5_n1000.json")) as f:
        src = json.load(f)
    k, n = src["classes"], src["n"]
    p = np.array(src["probabilities"]).reshape(n, k)
    y = np.array(src["labels"])
    seed, resamples, level, bins = 42, 200, 0.9, 15
    pred = np.argmax(p, axis=1)
    conf, hit = p[np.arange(n), pred], (pred == y).astype(np.float64)
    fns = {"accuracy": lambda i: hit[i].mean(),
           "nll": lambda i: np.mean(-np.log(np.maximum(p[i, y[i]], FLOOR))),
           "ece": lambda i: np_ece(conf[i], hit[i], bins)}
    rows = []
    for r in range(resamples):
        g = SplitMix64.stream(r, seed)
        rows.append(np.array([g.below(n) for _ in range(n)]))
    out = {"versions": VERSIONS, "source": "k5_n1000.json", "seed": seed, "resamples": resamples,
           "level": level, "bins": bins, "first_rows_of_resample_0": [int(v) for v in rows[0][:10]],
           "splitmix64_seed0_first5": _first(SplitMix64(0), 5),
           "below_7_seed1_first10": _below(SplitMix64(1), 7, 10),
           "metrics": {}}
    for name, fn in fns.items():
        reps = np.array([fn(i) for i in rows])
        out["metrics"][name] = {"first_replicates": [float(v) for v in reps[:5]],
                                "lower": float(np.quantile(reps, (1 - level) / 2)),
                                "upper": float(np.quantile(reps, (1 + level) / 2))}
    dump("bootstrap.json", out)


def _first(g, count):
    return [g.next() for _ in range(count)]


def _below(g, bound, count):
    return [g.below(bound) for _ in range(count)]


if __name__ == "__main__":
    main()
