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
log "main job: SmolLM2-135M-Instruct zero-shot on ARC-Easy and OpenBookQA test (about 8 minutes on 2 cores)"
"$BIN" inspect "$SMOLLM2_GGUF" | head -8
mkdir -p out
for task in arc-e obqa; do
  echo
  echo "== $task test"
  "$BIN" evaluate --model "$SMOLLM2_GGUF" --task "$task" --split test \
    --output "out/smollm2-$task.json" --predictions "out/smollm2-$task.jsonl"
done
log "done; the binary is $BIN, run records in out/"
