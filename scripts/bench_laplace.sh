#!/usr/bin/env bash
# The KFAC Laplace of a SmolLM2-135M-Instruct adapter on OpenBookQA: `bayeval laplace --hessian kron --link
# probit` against laplace-torch 0.3 + curvlinops (scripts/bench_laplace_torch.py: CurvlinopsGGN, KFAC over every
# LoRA parameter, marglik prior, GLM probit predictive), alternating the two for ROUNDS rounds in one session,
# each timed end to end (process start to exit). Both fit on the first FIT training examples and predict the
# first TEST test examples. The reference runs at its fastest setting: the f32 safetensors directory (converted
# once), fit batch FIT_BATCH (default 8: the largest that fits in memory on a 24 GB machine and its fastest), GLM
# predictive batch PREDICT_BATCH (default 1: larger batches are slower per example and batch 8 is killed out of
# memory at 24 GB), its MAP row's extra forward passes left out of its time. Peak RSS: /usr/bin/time for both
# (whole process). Prints each round, the medians, the ratios with and without loading, and both stacks'
# prior precision, log marginal likelihood and MAP / Laplace metrics (laplace-torch's batch-8 KFAC factors are
# normalised by padded batch lengths, so its numbers differ slightly from bayeval's, which match its batch 1).
# Run it on an otherwise idle machine (`top` first): two cores, and any other process halves the numbers.
#
#   scripts/bench_laplace.sh [ROUNDS=3] [FIT=128] [TEST=200] [FIT_BATCH=8] [PREDICT_BATCH=1]
#
# Needs the reference venv (PYREF, default /work/pyref: torch, transformers, peft, laplace-torch 0.3,
# curvlinops-for-pytorch 3.0.1, torchvision uninstalled). BAYEVAL_BIN overrides the binary (default
# .build/release/bayeval; this script never builds); BENCH_OUT keeps records and logs (default: a fresh
# temporary directory); SMOLLM2_F32 is the converted model (default $BAYEVAL_HOME/models/smollm2-f32, written
# on first use). BAYEVAL_OWN_KERNELS=1 runs bayeval with OPENBLAS_CORETYPE unset, so it picks its own OpenBLAS
# kernels (machines that force OPENBLAS_CORETYPE=Haswell on AVX-512 CPUs: see README, Environment); the
# reference (MKL) does not read that variable.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
rounds=${1:-3}; fit=${2:-128}; test=${3:-200}; fit_batch=${4:-8}; predict_batch=${5:-1}
adapter=fixtures/trained/smollm2-obqa
BIN=${BAYEVAL_BIN:-.build/release/bayeval}
PY=${PYREF:-/work/pyref}/bin/python
F32=${SMOLLM2_F32:-$BAYEVAL_HOME/models/smollm2-f32}
[ -x "$BIN" ] || { log "no bayeval binary at $BIN (build it with swift build -c release, or set BAYEVAL_BIN)"; exit 1; }
[ -x "$PY" ] || { log "no reference venv at ${PYREF:-/work/pyref} (set PYREF)"; exit 1; }
[ -f "$SMOLLM2_GGUF" ] || { log "missing $SMOLLM2_GGUF (scripts/setup.sh fetches it)"; exit 1; }
[ -f "$F32/config.json" ] || { log "converting SmolLM2 to f32 safetensors in $F32 (once)"; "$PY" scripts/bench_laplace_torch.py --convert "$F32"; }
bayeval_env=(env); [ "${BAYEVAL_OWN_KERNELS:-0}" = 1 ] && bayeval_env=(env -u OPENBLAS_CORETYPE)
out=${BENCH_OUT:-$(mktemp -d /tmp/bench_laplace.XXXXXX)}
mkdir -p "$out"
log "Laplace kron probit on obqa: fit $fit, test $test, laplace-torch batches $fit_batch/$predict_batch, $rounds rounds; records in $out"
log "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} (bayeval: ${bayeval_env[*]}); load average now: $(cut -d' ' -f1-3 /proc/loadavg) (should be near 0)"

for r in $(seq "$rounds"); do
  /usr/bin/time -f "%e %M" -o "$out/bayeval-$r.time" "${bayeval_env[@]}" "$BIN" laplace "$adapter" --model "$SMOLLM2_GGUF" --task obqa \
    --fit-limit "$fit" --limit "$test" --hessian kron --link probit --threads 2 --output "$out/bayeval-$r.json" \
    >"$out/bayeval-$r.log" 2>&1 || { log "bayeval failed, see $out/bayeval-$r.log"; exit 1; }
  /usr/bin/time -f "%e %M" -o "$out/torch-$r.time" "$PY" scripts/bench_laplace_torch.py "$adapter" --model-dir "$F32" \
    --fit-limit "$fit" --limit "$test" --fit-batch-size "$fit_batch" --predict-batch-size "$predict_batch" \
    --threads 2 --output "$out/torch-$r.json" >"$out/torch-$r.log" 2>&1 \
    || { log "laplace-torch failed, see $out/torch-$r.log"; exit 1; }
  "$PY" - "$out" "$r" <<'PY'
import json, sys
out, r = sys.argv[1], sys.argv[2]
b, t = json.load(open(f"{out}/bayeval-{r}.json")), json.load(open(f"{out}/torch-{r}.json"))
bw, brss = (float(x) for x in open(f"{out}/bayeval-{r}.time").read().split())
tw, trss = (float(x) for x in open(f"{out}/torch-{r}.time").read().split())
c, bt, tt = b["configuration"], b["timings"], t["times"]
# bayeval's end to end is the whole process; laplace-torch's leaves out its MAP row's forward passes (map_s).
row = {"round": int(r),
       "bayeval": {"wall_s": bw, "load_s": round(bt["loadSeconds"] + bt["prepareSeconds"], 3),
                   "fit_s": float(c["fit_seconds"]), "predict_s": float(c["predict_seconds"]),
                   "peak_rss_mb": round(brss / 1024, 1)},
       "laplace_torch": {"wall_s": round(tw - tt["map_s"], 3), "load_s": tt["load_s"],
                         "fit_s": round(tt["fit_s"] + tt["prior_s"], 3), "predict_s": tt["predict_s"],
                         "map_s": tt["map_s"], "peak_rss_mb": round(trss / 1024, 1)}}
for side in ("bayeval", "laplace_torch"):
    row[side]["after_load_s"] = round(row[side]["wall_s"] - row[side]["load_s"], 3)
lap = next(x for x in b["results"] if x["method"]["kind"] == "laplace")
row["bayeval"] |= {"prior": lap["method"]["laplace"]["priorPrecision"],
                   "lml": lap["method"]["laplace"]["logMarginalLikelihood"],
                   "rows": {x["method"]["label"]: x["metrics"] for x in b["results"]}}
row["laplace_torch"] |= {"prior": t["prior_precision"], "lml": t["log_marginal_likelihood"],
                         "rows": {x["method"]: x["metrics"] for x in t["rows"]}}
json.dump(row, open(f"{out}/round-{r}.json", "w"))
for side in ("bayeval", "laplace_torch"):
    s = row[side]
    m = " | ".join(f"{k} ACC {v['accuracy']:.4f} ECE {v['ece']:.4f} NLL {v['nll']:.4f} Brier {v['brier']:.4f}"
                   for k, v in s["rows"].items())
    print(f"round {r} {side:13s} wall {s['wall_s']:7.1f} s (load {s['load_s']:.1f}, fit+prior {s['fit_s']:.1f}, "
          f"predict {s['predict_s']:.1f}), peak RSS {s['peak_rss_mb']:.0f} MB, prior {s['prior']:.6g}, "
          f"LML {s['lml']:.4f}; {m}")
PY
done

"$PY" - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rs = [json.load(open(f"{out}/round-{r}.json")) for r in range(1, rounds + 1)]
med = lambda side, key: statistics.median(r[side][key] for r in rs)
summary = {}
for key in ("wall_s", "after_load_s", "fit_s", "predict_s", "peak_rss_mb"):
    b, t = med("bayeval", key), med("laplace_torch", key)
    summary[key] = {"bayeval": b, "laplace_torch": t, "ratio": round(t / b, 3)}
    what = "RSS bayeval/laplace-torch" if key == "peak_rss_mb" else "speed-up"
    value = b / t if key == "peak_rss_mb" else t / b
    print(f"median {key:13s} bayeval {b:8.1f}   laplace-torch {t:8.1f}   {what} {value:.2f}")
json.dump({"rounds": rs, "medians": summary}, open(f"{out}/summary.json", "w"), indent=1)
print(f"summary in {out}/summary.json")
PY
