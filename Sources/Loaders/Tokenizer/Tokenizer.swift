/// Ids of the special tokens a model's prompt code needs; nil where the tokenizer has none.
public struct SpecialTokenIDs: Sendable, Equatable {
    public var bos: Int?
    public var eos: Int?
    public var pad: Int?
    public var cls: Int?
    public var sep: Int?
    public var unk: Int?
    public var mask: Int?

    public init(
        bos: Int? = nil, eos: Int? = nil, pad: Int? = nil, cls: Int? = nil, sep: Int? = nil,
        unk: Int? = nil, mask: Int? = nil
    ) {
        self.bos = bos; self.eos = eos; self.pad = pad; self.cls = cls; self.sep = sep; self.unk = unk
        self.mask = mask
    }
}

/// Text to token ids and back, exact to the id against Hugging Face `tokenizers` for the pipelines built by
/// `TokenizerLoader`.
public protocol Tokenizer: Sendable {
    /// Ids of `text` (and `pair`), with the post-processor's special tokens when `addSpecialTokens`.
    func encode(_ text: String, pair: String?, addSpecialTokens: Bool) -> [Int]
    /// Ids with their token type ids (0 for the first sequence, 1 for the second in BERT pairs).
    func encodeWithTypes(_ text: String, pair: String?, addSpecialTokens: Bool) -> (ids: [Int], typeIDs: [Int])
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String
    func tokenToID(_ token: String) -> Int?
    func idToToken(_ id: Int) -> String?
    /// Model vocabulary plus added tokens.
    var vocabularySize: Int { get }
    var specialTokens: SpecialTokenIDs { get }
}

extension Tokenizer {
    public func encode(_ text: String, pair: String? = nil, addSpecialTokens: Bool = true) -> [Int] {
        encode(text, pair: pair, addSpecialTokens: addSpecialTokens)
    }

    public func encodeWithTypes(
        _ text: String, pair: String? = nil,
        addSpecialTokens: Bool = true
    ) -> (ids: [Int], typeIDs: [Int]) {
        encodeWithTypes(text, pair: pair, addSpecialTokens: addSpecialTokens)
    }

    public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecialTokens: true) }

    public var bosTokenID: Int? { specialTokens.bos }
    public var eosTokenID: Int? { specialTokens.eos }
    public var padTokenID: Int? { specialTokens.pad }
    public var clsTokenID: Int? { specialTokens.cls }
    public var sepTokenID: Int? { specialTokens.sep }
    public var unknownTokenID: Int? { specialTokens.unk }
}

/// added tokens -> normalizer -> pre-tokenizer -> model -> post-processor, as Hugging Face runs them.
public final class TokenizerPipeline: Tokenizer {
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let model: any TokenModel
    let postProcessor: PostProcessor?
    let decoder: TokenDecoder?
    public let addedTokens: [AddedToken]
    public let specialTokens: SpecialTokenIDs
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    private let addedByID: [Int: AddedToken]
    private let addedByContent: [TokenKey: Int]

    init(
        normalizer: Normalizer?, preTokenizer: PreTokenizer?, model: any TokenModel,
        postProcessor: PostProcessor?, decoder: TokenDecoder?, addedTokens: [AddedToken],
        specialTokens: SpecialTokenIDs
    ) {
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        self.postProcessor = postProcessor
        self.decoder = decoder
        self.addedTokens = addedTokens
        self.specialTokens = specialTokens
        rawMatcher = AddedTokenMatcher(addedTokens.filter { !$0.normalized }, normalize: nil)
        normalizedMatcher = AddedTokenMatcher(
            addedTokens.filter { $0.normalized },
            normalize: normalizer.map { n in { n.apply($0) } })
        var byID: [Int: AddedToken] = [:]
        var byContent: [TokenKey: Int] = [:]
        for t in addedTokens { byID[t.id] = t; byContent[TokenKey(t.content)] = t.id }
        addedByID = byID
        addedByContent = byContent
    }

    public var vocabularySize: Int {
        max(model.vocabularySize, (addedTokens.map(\.id).max() ?? -1) + 1)
    }

    public func tokenToID(_ token: String) -> Int? { addedByContent[TokenKey(token)] ?? model.tokenToID(token) }
    public func idToToken(_ id: Int) -> String? { addedByID[id]?.content ?? model.idToToken(id) }

    public func encode(_ text: String, pair: String?, addSpecialTokens: Bool) -> [Int] {
        encodeWithTypes(text, pair: pair, addSpecialTokens: addSpecialTokens).ids
    }

    public func encodeWithTypes(
        _ text: String, pair: String?,
        addSpecialTokens: Bool
    ) -> (ids: [Int], typeIDs: [Int]) {
        let a = encodeSequence(text)
        let b = pair.map { encodeSequence($0) }
        guard let postProcessor else {
            return PostProcessor.byteLevel.process(a, b, addSpecialTokens: addSpecialTokens)
        }
        return postProcessor.process(a, b, addSpecialTokens: addSpecialTokens)
    }

    /// One sequence without post-processing.
    func encodeSequence(_ text: String) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3 + 4)
        var first = true
        for segment in rawMatcher.split(Array(text.unicodeScalars)) {
            switch segment {
            case .token(let id):
                ids.append(id)
            case .text(let scalars):
                var raw = String.UnicodeScalarView()
                raw.append(contentsOf: scalars)
                let normalized = normalizer?.apply(String(raw)) ?? String(raw)
                for sub in normalizedMatcher.split(Array(normalized.unicodeScalars)) {
                    switch sub {
                    case .token(let id): ids.append(id)
                    case .text(let s): encodeWords(PreTokenizer.substring(s, 0..<s.count), first, &ids)
                    }
                }
            }
            first = false
        }
        return ids
    }

    private func encodeWords(_ text: String, _ firstSegment: Bool, _ ids: inout [Int]) {
        guard let preTokenizer else { model.tokenize(text, into: &ids); return }
        for word in preTokenizer.apply([text], firstSegment: firstSegment) where !word.isEmpty {
            model.tokenize(word, into: &ids)
        }
    }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var tokens: [String] = []
        for id in ids {
            if let added = addedByID[id] {
                if skipSpecialTokens && added.special { continue }
                tokens.append(added.content)
            } else if let t = model.idToToken(id) {
                tokens.append(t)
            }
        }
        return decoder?.decode(tokens) ?? tokens.joined(separator: " ")
    }
}
