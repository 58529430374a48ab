#!/usr/bin/env bash
# The example checkpoint tree of docs/examples/seeds-sst2: `bayeval train` makes MAP adapters of MiniLM and
# SmolLM2 on SST-2 with three seeds each, laid out as bayesian-peft publishes its tree
# (map/<model>/<dataset>/<run>-seed<N>); then `bayeval evaluate TREE` scores every adapter with MAP,
# temperature scaling, TFB and Laplace (KFAC and diagonal GGN, probit), and `bayeval compare` writes the
# report. Resumable: finished trainings (their adapter_config.json) and finished runs are skipped.
# Usage: scripts/make_example_tree.sh OUT   (LIMIT=400 test sentences by default)
set -euo pipefail
out=${1:?usage: make_example_tree.sh OUT}
source "$(dirname "$0")/common.sh"
bin=${BAYEVAL_BIN:-.build/release/bayeval}
limit=${LIMIT:-400}
tree="$out/checkpoints"
mkdir -p "$tree"
for seed in 1 2 3; do
  dir="$tree/map/all-MiniLM-L6-v2/sst2/r8-seed$seed"
  if [ ! -f "$dir/adapter_config.json" ]; then
    log "train MiniLM seed $seed"
    # 300 updates of 32 sentences (~1/7 of an epoch), the bundled MiniLM recipe at half its length.
    "$bin" train --model "$MINILM_DIR" --task sst2 --output "$dir" --overwrite --steps 300 --batch-size 32 \
      --lr 5e-4 --eval-every 300 --eval-limit 0 --seed "$seed" > "$out/train-minilm-seed$seed.log" 2>&1
  fi
done
for seed in 1 2 3; do
  dir="$tree/map/SmolLM2-135M-Instruct/sst2/r8-seed$seed"
  if [ ! -f "$dir/adapter_config.json" ]; then
    log "train SmolLM2 seed $seed"
    # 4 epochs over the first 512 training sentences, 16 per update.
    "$bin" train --model "$SMOLLM2_GGUF" --task sst2 --output "$dir" --overwrite --train-limit 512 --epochs 4 \
      --batch-size 16 --lr 3e-4 --eval-every 128 --eval-limit 0 --seed "$seed" > "$out/train-smollm2-seed$seed.log" 2>&1
  fi
done
log "evaluate the tree"
"$bin" evaluate "$tree" --methods map,temperature,tfb,laplace-kron-probit,laplace-diag-probit \
  --limit "$limit" --fit-limit 256 --anchor-size 64 --samples 8 --output "$out/runs" > "$out/evaluate.log" 2>&1
"$bin" compare "$out/runs" --output "$out/report" > "$out/compare.log" 2>&1
log "report: $out/report/report.md"
