#!/usr/bin/env bash
# One command on a fresh Debian machine with Swift: install what bayeval needs, fetch the two real models,
# build the release binary, and run the main job on the bundled default.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
install_system_packages
fetch_models
log "building (release)"
swift build -c release 2>&1 | grep -E "error:|Build complete"
[ "${PIPESTATUS[0]}" -eq 0 ] || { log "build failed"; exit 1; }
BIN=$(swift build -c release --show-bin-path)/bayeval
[ -x "$BIN" ] || { log "build failed"; exit 1; }
log "main job (about 6 minutes on 2 cores): SmolLM2-135M-Instruct zero-shot on OpenBookQA, then a MAP adapter"
log "that bayeval trained on SST-2 (fixtures/trained/smollm2-sst2) evaluated and made Bayesian by TFB"
"$BIN" inspect "$SMOLLM2_GGUF" | head -8
mkdir -p out
echo
echo "== obqa test, base model (zero-shot)"
"$BIN" evaluate --model "$SMOLLM2_GGUF" --task obqa --split test \
  --output out/smollm2-obqa.json --predictions out/smollm2-obqa.jsonl
echo
echo "== sst2 test (first 300), the bundled MAP adapter and its TFB posterior (σ searched on 64 training anchors)"
"$BIN" tfb fixtures/trained/smollm2-sst2 --model "$SMOLLM2_GGUF" --task sst2 --split test --limit 300 \
  --anchor-size 64 --samples 5 --steps 4 --output out/tfb-sst2.json --predictions out/tfb-sst2.jsonl \
  --save-posterior out/tfb-sst2-posterior
log "done; the binary is $BIN, run records in out/ (the TFB posterior, a PEFT adapter, in out/tfb-sst2-posterior)"
