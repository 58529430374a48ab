#!/usr/bin/env bash
# The LoRA-XS ablation of gmum's paper on this machine's MiniLM and SST-2 (TASK and SPLIT choose another
# GLUE task and its labelled split, e.g. TASK=mrpc SPLIT=test), with a short recipe: for each
# projection (svd, wsvd, dct, rand, dct-1/2_svd at r=8; svd at r=16) and seed, `bayeval train --loraxs`
# (by default 250 updates of 16 on the first 2,000 training sentences) and `bayeval laplace --subset cores` with the
# full, kron and diag GGN fitted on 512 training sentences, scored on the first $LIMIT labelled test
# sentences. Resumable: a finished run (its laplace.json) is skipped. Summarise with
# scripts/summarise_ablation.py OUT.
# Usage: scripts/loraxs_ablation.sh OUT [SEEDS...]   (default seeds 1 2 3; LIMIT=600 by default;
# CONFIGS="svd:8 dct:8" runs only those projection:rank pairs; TRAIN_LIMIT, EPOCHS and LR change the
# recipe, e.g. MRPC, which the SST-2 recipe leaves at the majority class:
# TASK=mrpc SPLIT=test TRAIN_LIMIT=3668 EPOCHS=3 LR=1e-2)
set -euo pipefail
out=${1:?usage: loraxs_ablation.sh OUT [SEEDS...]}; shift
seeds=("${@:-1 2 3}"); [ $# -eq 0 ] && seeds=(1 2 3)
source "$(dirname "$0")/common.sh"
bin=${BAYEVAL_BIN:-.build/release/bayeval}
limit=${LIMIT:-600}; task=${TASK:-sst2}; split=${SPLIT:-test}
train_limit=${TRAIN_LIMIT:-2000}; epochs=${EPOCHS:-2}; lr=${LR:-3e-3}
mkdir -p "$out"
# A resumed run skips finished folders, so OUT holds one recipe only: another one is refused, not mixed in.
recipe="task=$task split=$split limit=$limit train_limit=$train_limit epochs=$epochs lr=$lr"
if [ -f "$out/recipe" ] && [ "$(cat "$out/recipe")" != "$recipe" ]; then
  echo "error: $out/recipe holds '$(cat "$out/recipe")', not '$recipe': use another OUT" >&2; exit 2
fi
echo "$recipe" > "$out/recipe"
for config in ${CONFIGS:-svd:8 wsvd:8 dct:8 rand:8 dct-1/2_svd:8 svd:16}; do
  projection=${config%%:*}; rank=${config##*:}
  for seed in "${seeds[@]}"; do
    dir="$out/${projection//\//_}-r$rank-s$seed"
    [ -f "$dir/laplace.json" ] && continue
    log "$projection r=$rank seed $seed"
    "$bin" train --model "$MINILM_DIR" --task "$task" --output "$dir/adapter" --overwrite --loraxs \
      --projection "$projection" --rank "$rank" --alpha 16 --train-limit "$train_limit" --epochs "$epochs" --batch-size 16 \
      --lr "$lr" --eval-limit 200 --seed "$seed" > "$dir.train.log" 2>&1
    "$bin" laplace "$dir/adapter" --task "$task" --split "$split" --limit "$limit" --subset cores \
      --hessian full,kron,diag --fit-limit 512 --output "$dir/laplace.json" > "$dir.laplace.log" 2>&1
  done
done
