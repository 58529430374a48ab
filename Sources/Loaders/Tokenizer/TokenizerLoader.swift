import Foundation

/// Builds tokenizers from Hugging Face `tokenizer.json` files or GGUF metadata.
public enum TokenizerLoader {
    /// Reads a `tokenizer.json` (or `tokenizer.json.zst`).
    public static func load(tokenizerJSON path: String) throws -> TokenizerPipeline {
        let data = try Zstd.readMaybeCompressed(path: path)
        return try load(json: try JSONValue.parse(data, file: path), file: path, config: nil)
    }

    /// A model directory: `tokenizer.json` (or `.zst`), plus `tokenizer_config.json` when present for the
    /// special token names.
    public static func load(directory: String) throws -> TokenizerPipeline {
        let dir = URL(fileURLWithPath: directory)
        var path = dir.appendingPathComponent("tokenizer.json").path
        if !FileManager.default.fileExists(atPath: path) {
            let z = path + ".zst"
            guard FileManager.default.fileExists(atPath: z) else {
                throw LoadError(.io, file: path, item: "", "no tokenizer.json in \(directory)")
            }
            path = z
        }
        let configPath = dir.appendingPathComponent("tokenizer_config.json").path
        let config = FileManager.default.fileExists(atPath: configPath) ? try JSONValue.parse(file: configPath) : nil
        let data = try Zstd.readMaybeCompressed(path: path)
        return try load(json: try JSONValue.parse(data, file: path), file: path, config: config)
    }

    /// `file` names the source in errors.
    public static func load(json: JSONValue, file: String, config: JSONValue? = nil) throws -> TokenizerPipeline {
        let r = TokenizerJSONReader(file: file)
        guard json.object != nil else { throw r.fail(.invalidJSON, "", "the top level is not an object") }
        let added = try addedTokens(json["added_tokens"] ?? .null, r)
        guard let modelJSON = json["model"], modelJSON.object != nil else {
            throw r.fail(.missingKey, "model", "missing \"model\"")
        }
        let model = try self.model(modelJSON, r)
        let normalizer = try r.normalizer(json["normalizer"] ?? .null, "normalizer")
        let preTokenizer = try r.preTokenizer(json["pre_tokenizer"] ?? .null, "pre_tokenizer")
        var addedByContent: [String: Int] = [:]
        for t in added { addedByContent[t.content] = t.id }
        let lookup: (String) -> Int? = { addedByContent[$0] ?? model.tokenToID($0) }
        let post = try r.postProcessor(json["post_processor"] ?? .null, "post_processor", lookup: lookup)
        let decoder = try r.decoder(json["decoder"] ?? .null, "decoder")
        let specials = specialTokenIDs(model: model, modelJSON: modelJSON, config: config, lookup: lookup)
        return TokenizerPipeline(
            normalizer: normalizer, preTokenizer: preTokenizer, model: model,
            postProcessor: post, decoder: decoder, addedTokens: added, specialTokens: specials)
    }

    static func addedTokens(_ v: JSONValue, _ r: TokenizerJSONReader) throws -> [AddedToken] {
        if v.isNull { return [] }
        guard let list = v.array else { throw r.fail(.invalidValue, "added_tokens", "expected an array") }
        return try list.enumerated().map { i, t in
            let item = "added_tokens[\(i)]"
            guard let id = t["id"]?.int else { throw r.fail(.missingKey, "\(item).id", "missing integer \"id\"") }
            let content = try r.string(t, "content", item)
            let special = r.bool(t, "special", default: false)
            return AddedToken(
                content: content, id: id, special: special, lstrip: r.bool(t, "lstrip", default: false),
                rstrip: r.bool(t, "rstrip", default: false),
                normalized: r.bool(t, "normalized", default: !special),
                singleWord: r.bool(t, "single_word", default: false))
        }
    }

    /// The vocabulary object {token: id} as a dense id-ordered list.
    static func vocabulary(_ v: JSONValue, _ r: TokenizerJSONReader) throws -> Vocabulary {
        guard let obj = v["vocab"]?.object else { throw r.fail(.missingKey, "model.vocab", "missing object \"vocab\"") }
        var maxID = -1
        for (t, idv) in obj {
            guard let id = idv.int, id >= 0 else {
                throw r.fail(.invalidValue, "model.vocab.\(t)", "the id must be a non-negative integer")
            }
            maxID = max(maxID, id)
        }
        guard maxID < 10_000_000 else { throw r.fail(.invalidValue, "model.vocab", "id \(maxID) is implausibly large") }
        var tokens = [String](repeating: "", count: maxID + 1)
        for (t, idv) in obj {
            let id = idv.int!
            if !tokens[id].isEmpty {
                throw r.fail(.invalidValue, "model.vocab.\(t)", "id \(id) is also used by \"\(tokens[id])\"")
            }
            tokens[id] = t
        }
        return Vocabulary(tokens: tokens)
    }

    static func model(_ v: JSONValue, _ r: TokenizerJSONReader) throws -> any TokenModel {
        let t =
            v["type"]?.string ?? (v["merges"] != nil ? "BPE" : v["continuing_subword_prefix"] != nil ? "WordPiece" : "")
        switch t {
        case "BPE":
            let vocab = try vocabulary(v, r)
            for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
                if let s = v[key]?.string, !s.isEmpty {
                    throw r.fail(.unsupported, "model.\(key)", "BPE with \(key) \"\(s)\" is not supported")
                }
            }
            if let d = v["dropout"]?.double, d > 0 {
                throw r.fail(
                    .unsupported, "model.dropout", "BPE dropout is not supported (encoding must be deterministic)")
            }
            let merges = try (v["merges"]?.array ?? []).enumerated().map { i, m -> BPEModel.Merge in
                if let s = m.string {
                    let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                    guard parts.count == 2 else {
                        throw r.fail(
                            .invalidValue, "model.merges[\(i)]", "merge \"\(s)\" is not two tokens separated by a space"
                        )
                    }
                    return .init(left: String(parts[0]), right: String(parts[1]))
                }
                if let a = m.array, a.count == 2, let l = a[0].string, let rr = a[1].string {
                    return .init(left: l, right: rr)
                }
                throw r.fail(.invalidValue, "model.merges[\(i)]", "expected \"a b\" or [\"a\", \"b\"]")
            }
            return try BPEModel(
                vocab: vocab, merges: merges, unknownToken: v["unk_token"]?.string,
                byteFallback: r.bool(v, "byte_fallback", default: false),
                fuseUnknown: r.bool(v, "fuse_unk", default: false),
                ignoreMerges: r.bool(v, "ignore_merges", default: false), file: r.file, item: "model.merges")
        case "WordPiece":
            return try WordPieceModel(
                vocab: try vocabulary(v, r), unknownToken: v["unk_token"]?.string ?? "[UNK]",
                prefix: v["continuing_subword_prefix"]?.string ?? "##",
                maxInputCharsPerWord: v["max_input_chars_per_word"]?.int ?? 100, file: r.file)
        default:
            throw r.fail(.unsupported, "model.type", "unknown model type \"\(t)\" (supported: BPE, WordPiece)")
        }
    }

    /// Special token ids: names from tokenizer_config.json when given, otherwise the usual spellings.
    static func specialTokenIDs(
        model: any TokenModel, modelJSON: JSONValue, config: JSONValue?,
        lookup: (String) -> Int?
    ) -> SpecialTokenIDs {
        func named(_ key: String) -> String? {
            guard let v = config?[key] else { return nil }
            return v.string ?? v["content"]?.string
        }
        func find(_ key: String, _ candidates: [String]) -> Int? {
            if let n = named(key) { return lookup(n) }
            return candidates.lazy.compactMap(lookup).first
        }
        var s = SpecialTokenIDs()
        s.bos = find("bos_token", ["<s>", "<|begin_of_text|>", "<|im_start|>", "[CLS]"])
        s.eos = find("eos_token", ["</s>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>", "[SEP]"])
        s.pad = find("pad_token", ["<pad>", "[PAD]", "<|pad|>"])
        s.cls = find("cls_token", ["[CLS]", "<s>"])
        s.sep = find("sep_token", ["[SEP]", "</s>"])
        s.mask = find("mask_token", ["[MASK]", "<mask>"])
        s.unk = modelJSON["unk_token"]?.string.flatMap(lookup) ?? find("unk_token", ["<unk>", "[UNK]"])
        return s
    }
}
