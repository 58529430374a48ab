/// llama.cpp's SentencePiece BPE ("llama" vocabularies in GGUF): start from Unicode scalars, repeatedly
/// merge the adjacent pair whose concatenation is a vocabulary token with the highest score (leftmost on
/// ties); a final piece that is not a token becomes its UTF-8 bytes as `<0xXX>` tokens, else unknown.
final class SentencePieceBPEModel: TokenModel {
    let vocab: Vocabulary
    let scores: [Float]
    let unknownID: Int?
    private let byteIDs: [Int?]

    init(vocab: Vocabulary, scores: [Float], unknownID: Int?) {
        self.vocab = vocab
        self.scores = scores
        self.unknownID = unknownID
        byteIDs = (0..<256).map { vocab.id("<0x" + String($0, radix: 16, uppercase: true).leftPadded(2) + ">") }
    }

    var vocabularySize: Int { vocab.tokens.count }
    func tokenToID(_ token: String) -> Int? { vocab.id(token) }
    func idToToken(_ id: Int) -> String? { vocab.token(id) }

    private struct Bigram { let score: Float; let left: Int; let right: Int; let size: Int }

    func tokenize(_ word: String, into ids: inout [Int]) {
        let scalars = Array(word.unicodeScalars)
        let n = scalars.count
        guard n > 0 else { return }
        // Symbol i covers scalars[start[i] ..< start[i] + len[i]]; len 0 once merged away.
        let start = Array(0..<n)
        var len = [Int](repeating: 1, count: n)
        var prev = Array(-1..<(n - 1))
        var next = Array(1...n)
        next[n - 1] = -1
        var heap: [Bigram] = []
        func before(_ a: Bigram, _ b: Bigram) -> Bool { a.score != b.score ? a.score > b.score : a.left < b.left }
        func push(_ b: Bigram) {
            heap.append(b)
            var i = heap.count - 1
            while i > 0 { let p = (i - 1) / 2; if before(heap[i], heap[p]) { heap.swapAt(i, p); i = p } else { break } }
        }
        func pop() -> Bigram? {
            guard !heap.isEmpty else { return nil }
            let top = heap[0]
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var i = 0
                while true {
                    let a = 2 * i + 1, b = a + 1
                    var m = i
                    if a < heap.count && before(heap[a], heap[m]) { m = a }
                    if b < heap.count && before(heap[b], heap[m]) { m = b }
                    if m == i { break }
                    heap.swapAt(i, m); i = m
                }
            }
            return top
        }
        func text(_ from: Int, _ count: Int) -> String { PreTokenizer.substring(scalars, from..<(from + count)) }
        func tryAdd(_ l: Int, _ r: Int) {
            guard l >= 0, r >= 0 else { return }
            let size = len[l] + len[r]
            guard let id = vocab.id(text(start[l], size)) else { return }
            push(Bigram(score: scores[id], left: l, right: r, size: size))
        }
        for i in 1..<n { tryAdd(i - 1, i) }
        while let b = pop() {
            // Stale when either side was merged since the bigram was queued.
            guard len[b.left] > 0, len[b.right] > 0, len[b.left] + len[b.right] == b.size, next[b.left] == b.right
            else { continue }
            len[b.left] += len[b.right]
            len[b.right] = 0
            next[b.left] = next[b.right]
            if next[b.right] >= 0 { prev[next[b.right]] = b.left }
            tryAdd(prev[b.left], b.left)
            tryAdd(b.left, next[b.left])
        }
        var i = 0
        while i >= 0 {
            let piece = text(start[i], len[i])
            if let id = vocab.id(piece) {
                ids.append(id)
            } else {
                for byte in piece.utf8 {
                    if let id = byteIDs[Int(byte)] { ids.append(id) } else if let unk = unknownID { ids.append(unk) }
                }
            }
            i = next[i]
        }
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
