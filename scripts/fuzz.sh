#!/usr/bin/env bash
# Fuzz the safetensors or GGUF parser with libFuzzer (+ AddressSanitizer).
#   scripts/fuzz.sh safetensors [seconds]     scripts/fuzz.sh gguf [seconds]
# Seeds come from fixtures/; crashes are written to .build-fuzz/<target>/ and fail the script.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-safetensors}
seconds=${2:-60}
out=.build-fuzz/$target
mkdir -p "$out/corpus"
flags=()
case $target in
  safetensors) find fixtures/safetensors fixtures/adapters -name '*.safetensors' -exec cp {} "$out/corpus/" \; ;;
  gguf) flags=(-D FUZZ_GGUF); find fixtures/gguf -name '*.gguf' -size -2M -exec cp {} "$out/corpus/" \; ;;
  *) echo "usage: $0 safetensors|gguf [seconds]" >&2; exit 2 ;;
esac
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name LoadersFuzz "${flags[@]}" \
  -I Sources/CZstd -target-cpu haswell \
  Sources/Loaders/*.swift Sources/Loaders/*/*.swift Fuzz/FuzzEntry.swift \
  -lzstd -o "$out/fuzz-$target"
cd "$out"
./"fuzz-$target" -max_total_time="$seconds" -max_len=65536 -artifact_prefix=./ corpus
