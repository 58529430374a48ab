#!/usr/bin/env bash
# bayeval against transformers on the same SmolLM2 multiple-choice prompts, end to end (start-up, loading
# and scoring), alternating the two for ROUNDS rounds on an otherwise idle machine; prints each wall time,
# the medians and their ratio, then bayeval's own scoring report (tokens/s, fraction of sgemm peak, memory).
#   scripts/bench_scoring.sh [task] [limit] [rounds]      (default: obqa 500 3)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
task=${1:-obqa}; limit=${2:-500}; rounds=${3:-3}
BIN=$(swift build -c release --show-bin-path)/bayeval
[ -x "$BIN" ] || swift build -c release >/dev/null
ours=(); theirs=()
for r in $(seq "$rounds"); do
  s=$(date +%s.%N)
  "$BIN" evaluate --model "$SMOLLM2_GGUF" --task "$task" --limit "$limit" --threads 2 >/dev/null 2>&1
  e=$(date +%s.%N); ours+=("$(echo "$e - $s" | bc)")
  line=$(python3 scripts/bench_transformers.py --task "$task" --limit "$limit" 2>/dev/null | tail -1)
  theirs+=("$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["wall_s"])')")
  echo "round $r: bayeval ${ours[-1]} s, transformers ${theirs[-1]} s ($line)"
done
python3 - "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
o = [float(x) for x in sys.argv[1].split()]; t = [float(x) for x in sys.argv[2].split()]
mo, mt = statistics.median(o), statistics.median(t)
print(f"median end to end: bayeval {mo:.1f} s, transformers {mt:.1f} s, ratio {mt / mo:.2f}x")
PY
"$BIN" bench scoring --model "$SMOLLM2_GGUF" --task "$task" --limit "$limit" --repeats "$rounds"
