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
log "main job: the bundled models and datasets"
"$BIN" inspect "$SMOLLM2_GGUF"
echo
"$BIN" inspect "$MINILM_DIR"
echo
"$BIN" tokenize --model "$SMOLLM2_GGUF" "Question: Which gas do plants absorb?" "Answer: A"
echo
"$BIN" datasets
log "done; the binary is $BIN"
