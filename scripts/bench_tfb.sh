#!/usr/bin/env bash
# The whole TFB procedure (MAP test pass, deterministic anchors, σ bisection with N samples per candidate,
# final test evaluation with N samples at σ*) on SmolLM2-135M-Instruct, OpenBookQA: `bayeval tfb` against the
# same procedure in transformers + peft (scripts/bench_tfb_transformers.py), alternating the two for ROUNDS
# rounds in one session, each timed end to end (process start to exit). Prints each round, the medians,
# their ratio, σ* and the test ACC/NLL of both (the noise draws differ, so σ* and TFB metrics agree only
# roughly; `python3 scripts/bench_tfb_transformers.py ... --noise bayeval` reproduces bayeval's draws).
# Run it on an otherwise idle machine (`top` first): two cores, and any other process halves the numbers.
#
#   scripts/bench_tfb.sh ADAPTER_DIR [ROUNDS=3] [ANCHORS=100] [TEST_LIMIT=500] [SAMPLES=10] [STEPS=5]
#
# BAYEVAL_BIN overrides the binary (default .build/release/bayeval; this script never builds);
# BENCH_OUT keeps the run records and logs in that directory (default: a fresh temporary one).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
[ $# -ge 1 ] || { echo "usage: $0 ADAPTER_DIR [ROUNDS=3] [ANCHORS=100] [TEST_LIMIT=500] [SAMPLES=10] [STEPS=5]" >&2; exit 2; }
adapter=$1; rounds=${2:-3}; anchors=${3:-100}; limit=${4:-500}; samples=${5:-10}; steps=${6:-5}
BIN=${BAYEVAL_BIN:-.build/release/bayeval}
[ -x "$BIN" ] || { log "no bayeval binary at $BIN (build it with swift build -c release, or set BAYEVAL_BIN)"; exit 1; }
[ -f "$SMOLLM2_GGUF" ] || { log "missing $SMOLLM2_GGUF (scripts/setup.sh fetches it)"; exit 1; }
[ -f "$adapter/adapter_config.json" ] || { log "$adapter is not a PEFT adapter directory"; exit 1; }
out=${BENCH_OUT:-$(mktemp -d /tmp/bench_tfb.XXXXXX)}
mkdir -p "$out"
common=(--task obqa --anchor-size "$anchors" --steps "$steps" --samples "$samples" --limit "$limit" --threads 2 --batch-size 16)
log "TFB on obqa: $anchors anchors, $steps steps, $samples samples, test limit $limit, $rounds rounds; records in $out"
log "load average now: $(cut -d' ' -f1-3 /proc/loadavg) (should be near 0)"

ours=(); theirs=()
for r in $(seq "$rounds"); do
  s=$(date +%s.%N)
  "$BIN" tfb "$adapter" --model "$SMOLLM2_GGUF" "${common[@]}" --output "$out/bayeval-$r.json" \
    >"$out/bayeval-$r.log" 2>&1 || { log "bayeval failed, see $out/bayeval-$r.log"; exit 1; }
  e=$(date +%s.%N); ours+=("$(echo "$e - $s" | bc)")
  s=$(date +%s.%N)
  python3 scripts/bench_tfb_transformers.py "$adapter" "${common[@]}" --output "$out/transformers-$r.json" \
    >"$out/transformers-$r.log" 2>&1 || { log "transformers failed, see $out/transformers-$r.log"; exit 1; }
  e=$(date +%s.%N); theirs+=("$(echo "$e - $s" | bc)")
  python3 - "$r" "${ours[-1]}" "${theirs[-1]}" "$out/bayeval-$r.json" "$out/transformers-$r.json" <<'PY'
import json, sys
r, to, tt, fo, ft = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), json.load(open(sys.argv[4])), json.load(open(sys.argv[5]))
# bayeval writes its run record (results, tfbSearch); the transformers script its own flat JSON (rows, sigma, steps).
def rows(d):
    if "results" in d: return {x["method"]["label"]: x["metrics"] for x in d["results"]}
    return {x["method"]: x["metrics"] for x in d["rows"]}
def search(d): return d.get("tfbSearch", d)
def fmt(d):
    m = rows(d)
    return (f"σ* {search(d)['sigma']:.6f}, MAP ACC {m['MAP']['accuracy']:.4f} NLL {m['MAP']['nll']:.4f}, "
            f"TFB ACC {m['TFB']['accuracy']:.4f} NLL {m['TFB']['nll']:.4f} ECE {m['TFB']['ece']:.4f}")
t = ft["times"]
print(f"round {r}: bayeval {to:.1f} s ({fmt(fo)})")
print(f"         transformers {tt:.1f} s ({fmt(ft)})")
print(f"         transformers split: load {t['load_s']:.1f} s, MAP test {t['map_test_s']:.1f} s, "
      f"anchor reference {t['anchor_reference_s']:.1f} s, search {t['search_s']:.1f} s, final eval {t['final_eval_s']:.1f} s")
print("         steps bayeval:      " + ", ".join(f"{s['sigma']:.6f}:{s['value']:.4g}{'+' if s['accepted'] else '-'}" for s in search(fo)["steps"]))
print("         steps transformers: " + ", ".join(f"{s['sigma']:.6f}:{s['value']:.4g}{'+' if s['accepted'] else '-'}" for s in search(ft)["steps"]))
PY
done
python3 - "${ours[*]}" "${theirs[*]}" "$out" "$rounds" <<'PY'
import json, statistics, sys
o = [float(x) for x in sys.argv[1].split()]; t = [float(x) for x in sys.argv[2].split()]
mo, mt = statistics.median(o), statistics.median(t)
print(f"median end to end over {len(o)} rounds: bayeval {mo:.1f} s, transformers+peft {mt:.1f} s, "
      f"ratio {mt / mo:.2f}x (target ≥ 1.5x)")
out, rounds = sys.argv[3], int(sys.argv[4])
for name in ("bayeval", "transformers"):
    sig = [json.load(open(f"{out}/{name}-{r}.json"))["sigma"] for r in range(1, rounds + 1)]
    print(f"σ* {name}: " + ", ".join(f"{s:.6f}" for s in sig))
PY
