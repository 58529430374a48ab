/// Tokenizers from GGUF metadata (llama.cpp's description of a vocabulary).
extension TokenizerLoader {
    /// llama.cpp `tokenizer.ggml.pre` names this loader knows, and the pre-tokenizer each stands for.
    static let supportedGGUFPre = ["smollm", "llama-bpe", "llama3", "gpt-2", "default"]

    public static func fromGGUF(_ data: GGUFTokenizerData, file: String) throws -> TokenizerPipeline {
        let item = "tokenizer.ggml."
        // Control (3) and user-defined (4) tokens are matched in the raw text, as llama.cpp does.
        var added: [AddedToken] = []
        if let types = data.tokenTypes {
            guard types.count == data.tokens.count else {
                throw LoadError(
                    .invalidValue, file: file, item: item + "token_type",
                    "has \(types.count) entries for \(data.tokens.count) tokens")
            }
            for (i, t) in types.enumerated() where t == 3 || t == 4 {
                added.append(AddedToken(content: data.tokens[i], id: i, special: t == 3))
            }
        }
        let vocab = Vocabulary(tokens: data.tokens)
        let specials = SpecialTokenIDs(
            bos: data.bosTokenID, eos: data.eosTokenID, pad: data.paddingTokenID,
            cls: data.model == "bert" ? data.bosTokenID : nil,
            sep: data.separatorTokenID, unk: data.unknownTokenID)
        switch data.model {
        case "gpt2":
            let pre: PreTokenizer
            var ignoreMerges = false
            switch data.pre ?? "default" {
            case "smollm":
                pre = .sequence([.digits(individualDigits: true), .byteLevel(addPrefixSpace: false, useRegex: true)])
            case "llama-bpe", "llama3":
                pre = .sequence([
                    .split(.llama3, behavior: .isolated, invert: false),
                    .byteLevel(addPrefixSpace: false, useRegex: false),
                ])
                ignoreMerges = true
            case "gpt-2", "default":
                pre = .byteLevel(addPrefixSpace: false, useRegex: true)
            case let other:
                throw LoadError(
                    .unsupported, file: file, item: item + "pre",
                    "unknown pre-tokenizer \"\(other)\" (supported: \(supportedGGUFPre.joined(separator: ", ")))")
            }
            guard let mergeStrings = data.merges else {
                throw LoadError(.missingKey, file: file, item: item + "merges", "a gpt2 (BPE) vocabulary needs merges")
            }
            let merges = try mergeStrings.enumerated().map { i, s -> BPEModel.Merge in
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw LoadError(
                        .invalidValue, file: file, item: item + "merges[\(i)]",
                        "merge \"\(s)\" is not two tokens separated by a space")
                }
                return .init(left: String(parts[0]), right: String(parts[1]))
            }
            let model = try BPEModel(
                vocab: vocab, merges: merges, unknownToken: nil, byteFallback: false,
                fuseUnknown: false, ignoreMerges: ignoreMerges, file: file, item: item + "merges")
            return TokenizerPipeline(
                normalizer: nil, preTokenizer: pre, model: model,
                postProcessor: try bosEOS(data, file: file, default: false), decoder: .byteLevel,
                addedTokens: added, specialTokens: specials)
        case "llama":
            guard let scores = data.scores, scores.count == data.tokens.count else {
                throw LoadError(
                    .missingKey, file: file, item: item + "scores",
                    "a llama (SentencePiece) vocabulary needs one score per token")
            }
            let model = SentencePieceBPEModel(vocab: vocab, scores: scores, unknownID: data.unknownTokenID)
            var steps: [Normalizer] = []
            if data.addSpacePrefix ?? true { steps.append(.prepend("▁")) }
            steps.append(.replace(pattern: " ", content: "▁"))
            return TokenizerPipeline(
                normalizer: .sequence(steps), preTokenizer: nil, model: model,
                postProcessor: try bosEOS(data, file: file, default: true),
                decoder: .sequence([
                    .replace(pattern: "▁", content: " "), .byteFallback, .fuse,
                    .strip(content: " ", start: 1, stop: 0),
                ]),
                addedTokens: added, specialTokens: specials)
        default:
            throw LoadError(
                .unsupported, file: file, item: item + "model",
                "tokenizer model \"\(data.model)\" is not supported (supported: gpt2, llama)")
        }
    }

    /// BOS / EOS around each encoded text as the GGUF's add_bos_token / add_eos_token say.
    private static func bosEOS(
        _ data: GGUFTokenizerData, file: String, default addBOSDefault: Bool
    ) throws -> PostProcessor {
        let addBOS = data.addBOS ?? addBOSDefault
        let addEOS = data.addEOS ?? false
        var single: [PostProcessor.Piece] = [.sequenceA(typeID: 0)]
        var pair: [PostProcessor.Piece] = [.sequenceA(typeID: 0), .sequenceB(typeID: 1)]
        if addBOS {
            guard let bos = data.bosTokenID else {
                throw LoadError(
                    .missingKey, file: file, item: "tokenizer.ggml.bos_token_id",
                    "add_bos_token is set but there is no BOS token")
            }
            single.insert(.special(ids: [bos], typeID: 0), at: 0)
            pair.insert(.special(ids: [bos], typeID: 0), at: 0)
        }
        if addEOS {
            guard let eos = data.eosTokenID else {
                throw LoadError(
                    .missingKey, file: file, item: "tokenizer.ggml.eos_token_id",
                    "add_eos_token is set but there is no EOS token")
            }
            single.append(.special(ids: [eos], typeID: 0))
            pair.append(.special(ids: [eos], typeID: 1))
        }
        return .template(single: single, pair: pair)
    }
}
