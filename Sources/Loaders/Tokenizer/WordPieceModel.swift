/// BERT's WordPiece: greedy longest-match-first from the left; pieces after the first carry the
/// continuation prefix ("##"); a word with any unmatched rest, or longer than the character limit,
/// becomes the single unknown token.
final class WordPieceModel: TokenModel {
    let vocab: Vocabulary
    let unknownID: Int
    let prefix: String
    let maxInputCharsPerWord: Int
    private let cache = WordCache()

    init(vocab: Vocabulary, unknownToken: String, prefix: String, maxInputCharsPerWord: Int, file: String) throws {
        guard let unk = vocab.id(unknownToken) else {
            throw LoadError(
                .invalidValue, file: file, item: "model.unk_token",
                "unknown token \"\(unknownToken)\" is not in the vocabulary")
        }
        self.vocab = vocab
        unknownID = unk
        self.prefix = prefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
    }

    var vocabularySize: Int { vocab.tokens.count }
    func tokenToID(_ token: String) -> Int? { vocab.id(token) }
    func idToToken(_ id: Int) -> String? { vocab.token(id) }

    func tokenize(_ word: String, into ids: inout [Int]) {
        if let hit = cache.get(word) { ids.append(contentsOf: hit); return }
        let result = pieces(word)
        cache.set(word, result)
        ids.append(contentsOf: result)
    }

    private func pieces(_ word: String) -> [Int] {
        let s = Array(word.unicodeScalars)
        // Rust counts `chars()`, i.e. scalars.
        if s.count > maxInputCharsPerWord { return [unknownID] }
        var out: [Int] = []
        var start = 0
        while start < s.count {
            var end = s.count
            var found: Int?
            while end > start {
                var candidate = start > 0 ? prefix : ""
                candidate.unicodeScalars.append(contentsOf: s[start..<end])
                if let id = vocab.id(candidate) { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unknownID] }
            out.append(id)
            start = end
        }
        return out
    }
}
