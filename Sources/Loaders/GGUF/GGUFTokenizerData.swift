/// The tokenizer as a GGUF file describes it (`tokenizer.ggml.*` metadata), before it is turned into a
/// `Tokenizer`. The GGUF reader fills it; the tokenizer factory consumes it.
public struct GGUFTokenizerData: Sendable, Equatable {
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE), "llama" (SentencePiece), "bert" (WordPiece), …
    public var model: String
    /// `tokenizer.ggml.pre`: llama.cpp's pre-tokenizer name ("smollm", "llama-bpe", "gpt-2", "default", …).
    public var pre: String?
    public var tokens: [String]
    public var scores: [Float]?
    /// llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    public var tokenTypes: [Int32]?
    /// BPE merges as "left right" strings, in rank order.
    public var merges: [String]?
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    public var unknownTokenID: Int?
    public var paddingTokenID: Int?
    public var separatorTokenID: Int?
    public var addBOS: Bool?
    public var addEOS: Bool?
    public var addSpacePrefix: Bool?

    public init(
        model: String, pre: String? = nil, tokens: [String], scores: [Float]? = nil,
        tokenTypes: [Int32]? = nil, merges: [String]? = nil, bosTokenID: Int? = nil,
        eosTokenID: Int? = nil, unknownTokenID: Int? = nil, paddingTokenID: Int? = nil,
        separatorTokenID: Int? = nil, addBOS: Bool? = nil, addEOS: Bool? = nil,
        addSpacePrefix: Bool? = nil
    ) {
        self.model = model; self.pre = pre; self.tokens = tokens; self.scores = scores
        self.tokenTypes = tokenTypes; self.merges = merges; self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID; self.unknownTokenID = unknownTokenID
        self.paddingTokenID = paddingTokenID; self.separatorTokenID = separatorTokenID
        self.addBOS = addBOS; self.addEOS = addEOS; self.addSpacePrefix = addSpacePrefix
    }
}
