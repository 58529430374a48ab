extension GGUFFile {
    /// The tokenizer described by `tokenizer.ggml.*` metadata. `model` and `tokens` are required; per-token
    /// arrays must have one entry per token. A key present with the wrong type is an error, not ignored;
    /// special-token ids outside the vocabulary are nil.
    public func tokenizerData() throws -> GGUFTokenizerData {
        let p = "tokenizer.ggml."
        func typed<T>(_ key: String, _ what: String, _ get: (GGUFValue) -> T?) throws -> T? {
            guard let v = metadata[p + key] else { return nil }
            guard let x = get(v) else {
                throw LoadError(.invalidValue, file: path, item: p + key, "expected \(what), got a \(v.type) value")
            }
            return x
        }
        guard let model = try typed("model", "a string", { $0.string }) else {
            throw LoadError(.missingKey, file: path, item: p + "model", "missing")
        }
        guard let tokens = try typed("tokens", "an array of strings", { $0.strings }) else {
            throw LoadError(.missingKey, file: path, item: p + "tokens", "missing")
        }
        let scores = try typed("scores", "an array of numbers", { $0.floats })
        let types = try typed(
            "token_type", "an array of integers",
            { v in
                v.ints.flatMap { ints in ints.allSatisfy { Int32(exactly: $0) != nil } ? ints.map { Int32($0) } : nil }
            })
        for (key, n) in [("scores", scores?.count), ("token_type", types?.count)] {
            if let n, n != tokens.count {
                throw LoadError(
                    .invalidValue, file: path, item: p + key,
                    "has \(n) entries for \(tokens.count) tokens")
            }
        }
        // A special-token id outside the vocabulary (some converters write UInt32.max for "none") is
        // treated as absent, as llama.cpp does, rather than making the whole file unreadable.
        func id(_ key: String) throws -> Int? {
            guard let v = metadata[p + key] else { return nil }
            switch v.type {
            case .uint8, .int8, .uint16, .int16, .uint32, .int32, .uint64, .int64: break
            default:
                throw LoadError(.invalidValue, file: path, item: p + key, "expected an integer, got a \(v.type) value")
            }
            guard let i = v.int, i >= 0, i < tokens.count else { return nil }
            return i
        }
        return GGUFTokenizerData(
            model: model, pre: try typed("pre", "a string", { $0.string }), tokens: tokens, scores: scores,
            tokenTypes: types, merges: try typed("merges", "an array of strings", { $0.strings }),
            bosTokenID: try id("bos_token_id"), eosTokenID: try id("eos_token_id"),
            unknownTokenID: try id("unknown_token_id"), paddingTokenID: try id("padding_token_id"),
            // llama.cpp's key is spelled "seperator".
            separatorTokenID: try id("seperator_token_id"),
            addBOS: try typed("add_bos_token", "a bool", { $0.bool }),
            addEOS: try typed("add_eos_token", "a bool", { $0.bool }),
            addSpacePrefix: try typed("add_space_prefix", "a bool", { $0.bool }))
    }
}
