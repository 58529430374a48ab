#!/usr/bin/env python3
"""Reference values for temperature scaling and risk-coverage (fixtures/metrics/selective.json).

For each probability set of fixtures/metrics (written by make_metrics_fixtures.py): the temperature that
minimises the mean NLL of softmax(log p / T), found by scipy's bounded Brent search on log T with a tight
tolerance, the NLL before and after; and the risk-coverage curve and AURC as Geifman & El-Yaniv define them
(risk among the k most confident, stable sort by descending confidence, mean over k = 1..n).
"""
import json, pathlib, sys
import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

root = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "metrics"
out = {}
for name in ["k4_n7", "k5_n1000", "k4_n1000_overconfident", "k5_n1000_uniform"]:
    s = json.loads((root / f"{name}.json").read_text())
    p = np.array(s["probabilities"], dtype=np.float64).reshape(-1, s["classes"])
    y = np.array(s["labels"])
    z = np.log(np.maximum(p, 1e-12))

    def nll(log_t):
        lp = log_softmax(z / np.exp(log_t), axis=1)
        return -lp[np.arange(len(y)), y].mean()

    r = minimize_scalar(nll, bounds=(np.log(1e-4), np.log(1e4)), method="bounded",
                        options={"xatol": 1e-12, "maxiter": 2000})
    conf = p.max(axis=1)
    pred = p.argmax(axis=1)
    order = np.argsort(-conf, kind="stable")
    errors = np.cumsum(pred[order] != y[order])
    risks = errors / np.arange(1, len(y) + 1)
    out[name] = {
        "temperature": float(np.exp(r.x)), "nll_before": float(nll(0.0)), "nll_after": float(r.fun),
        "risks": risks.tolist(), "aurc": float(risks.mean()),
    }
(root / "selective.json").write_text(json.dumps(out, indent=1) + "\n")
print("wrote", root / "selective.json", file=sys.stderr)
