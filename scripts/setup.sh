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
log "main job (about 10 minutes on 2 cores): the two bundled SST-2 adapters bayeval trained"
log "(SmolLM2-135M-Instruct prompted, MiniLM with a head) as a tree: MAP, temperature scaling, TFB and"
log "Laplace (KFAC, probit) on 200 test examples each, then the compare report"
"$BIN" inspect "$SMOLLM2_GGUF" | head -8
mkdir -p out/bundled/smollm2 out/bundled/minilm
ln -sfn "$PWD/fixtures/trained/smollm2-sst2" out/bundled/smollm2/sst2
ln -sfn "$PWD/fixtures/trained/minilm-sst2" out/bundled/minilm/sst2
echo
echo "== every adapter under out/bundled, every method (finished runs are skipped on a rerun)"
"$BIN" evaluate out/bundled --methods map,temperature,tfb,laplace-kron-probit \
  --base HuggingFaceTB/SmolLM2-135M-Instruct="$SMOLLM2_GGUF" \
  --base sentence-transformers/all-MiniLM-L6-v2="$MINILM_DIR" \
  --limit 200 --fit-limit 128 --anchor-size 48 --samples 5 --output out/tree
echo
echo "== the report"
"$BIN" compare out/tree --output out/report
log "done; the binary is $BIN; runs in out/tree (run.json, predictions, logs), report in out/report/report.html"
