/// Byte-pair encoding as Hugging Face runs it: a word starts as one symbol per Unicode scalar (unknown
/// scalars become `<0xXX>` byte tokens with byte fallback, else the unknown token, fused when asked), then
/// the adjacent pair with the lowest merge rank is merged, leftmost first, until no pair has a rank.
final class BPEModel: TokenModel {
    let vocab: Vocabulary
    /// (left id << 32 | right id) -> (rank << 32 | merged id).
    private let merges: [UInt64: UInt64]
    private let scalarIDs: [UInt32: Int]
    private let byteFallbackIDs: [Int]?
    let unknownID: Int?
    let fuseUnknown: Bool
    let ignoreMerges: Bool
    private let cache = WordCache()

    struct Merge { let left: String; let right: String }

    /// `item` prefix names the JSON place of the merges for errors ("model.merges").
    init(
        vocab: Vocabulary, merges: [Merge], unknownToken: String?, byteFallback: Bool, fuseUnknown: Bool,
        ignoreMerges: Bool, file: String, item: String
    ) throws {
        self.vocab = vocab
        var table = [UInt64: UInt64](minimumCapacity: merges.count)
        for (rank, m) in merges.enumerated() {
            guard let l = vocab.id(m.left) else {
                throw LoadError(
                    .invalidValue, file: file, item: "\(item)[\(rank)]",
                    "merge \"\(m.left) \(m.right)\": \"\(m.left)\" is not in the vocabulary")
            }
            guard let r = vocab.id(m.right) else {
                throw LoadError(
                    .invalidValue, file: file, item: "\(item)[\(rank)]",
                    "merge \"\(m.left) \(m.right)\": \"\(m.right)\" is not in the vocabulary")
            }
            guard let merged = vocab.id(m.left + m.right) else {
                throw LoadError(
                    .invalidValue, file: file, item: "\(item)[\(rank)]",
                    "merge \"\(m.left) \(m.right)\": \"\(m.left + m.right)\" is not in the vocabulary")
            }
            let key = UInt64(l) << 32 | UInt64(r)
            if table[key] == nil { table[key] = UInt64(rank) << 32 | UInt64(merged) }
        }
        self.merges = table
        var scalars: [UInt32: Int] = [:]
        for (key, id) in vocab.ids {
            let t = key.string
            let u = t.unicodeScalars
            if u.count == 1, let s = u.first { scalars[s.value] = id }
        }
        scalarIDs = scalars
        if byteFallback {
            let ids = (0..<256).map { vocab.id(String(format: "<0x%02X>", $0)) }
            byteFallbackIDs = ids.contains(where: { $0 == nil }) ? nil : ids.map { $0! }
        } else {
            byteFallbackIDs = nil
        }
        if let unknownToken {
            guard let u = vocab.id(unknownToken) else {
                throw LoadError(
                    .invalidValue, file: file, item: "model.unk_token",
                    "unknown token \"\(unknownToken)\" is not in the vocabulary")
            }
            unknownID = u
        } else {
            unknownID = nil
        }
        self.fuseUnknown = fuseUnknown
        self.ignoreMerges = ignoreMerges
    }

    var vocabularySize: Int { vocab.tokens.count }
    func tokenToID(_ token: String) -> Int? { vocab.id(token) }
    func idToToken(_ id: Int) -> String? { vocab.token(id) }

    func tokenize(_ word: String, into ids: inout [Int]) {
        if ignoreMerges, let id = vocab.id(word) { ids.append(id); return }
        // Long words (a whole sentence without a pre-tokenizer) are rarely repeated: not worth caching.
        let cacheable = word.utf8.count <= 64
        if cacheable, let hit = cache.get(word) { ids.append(contentsOf: hit); return }
        let result = merge(initialSymbols(word))
        if cacheable { cache.set(word, result) }
        ids.append(contentsOf: result)
    }

    private func initialSymbols(_ word: String) -> [Int] {
        var symbols: [Int] = []
        symbols.reserveCapacity(word.utf8.count)
        var lastWasUnknown = false
        for s in word.unicodeScalars {
            if let id = scalarIDs[s.value] {
                symbols.append(id)
                lastWasUnknown = false
            } else if let bytes = byteFallbackIDs {
                for b in String(s).utf8 { symbols.append(bytes[Int(b)]) }
                lastWasUnknown = false
            } else if let unk = unknownID {
                if !(fuseUnknown && lastWasUnknown) { symbols.append(unk) }
                lastWasUnknown = true
            }
        }
        return symbols
    }

    /// Heap of candidate merges ordered by (rank, position); stale entries are skipped when popped.
    private func merge(_ initial: [Int]) -> [Int] {
        let n = initial.count
        if n < 2 { return initial }
        var ids = initial
        var prev = Array(-1..<(n - 1))
        var next = Array(1...n)
        next[n - 1] = -1
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        for i in 0..<(n - 1) { pushPair(i, i + 1, ids, &heap) }
        while let top = heap.pop() {
            let l = top.position, r = top.right
            guard alive[l], alive[r], next[l] == r, ids[l] == top.leftID, ids[r] == top.rightID else { continue }
            ids[l] = top.mergedID
            alive[r] = false
            next[l] = next[r]
            if next[r] >= 0 { prev[next[r]] = l }
            if prev[l] >= 0 { pushPair(prev[l], l, ids, &heap) }
            if next[l] >= 0 { pushPair(l, next[l], ids, &heap) }
        }
        var out: [Int] = []
        var i = 0
        while i >= 0 { out.append(ids[i]); i = next[i] }
        return out
    }

    @inline(__always)
    private func pushPair(_ l: Int, _ r: Int, _ ids: [Int], _ heap: inout MergeHeap) {
        if let m = merges[UInt64(ids[l]) << 32 | UInt64(ids[r])] {
            heap.push(
                .init(
                    rank: Int(m >> 32), position: l, right: r, leftID: ids[l], rightID: ids[r],
                    mergedID: Int(m & 0xFFFF_FFFF)))
        }
    }
}

struct MergeCandidate {
    let rank: Int
    let position: Int
    let right: Int
    let leftID: Int
    let rightID: Int
    let mergedID: Int

    @inline(__always) func before(_ o: MergeCandidate) -> Bool {
        rank != o.rank ? rank < o.rank : position < o.position
    }
}

/// A binary min-heap (the standard library has none).
struct MergeHeap {
    private var items: [MergeCandidate] = []

    mutating func push(_ x: MergeCandidate) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if items[i].before(items[p]) { items.swapAt(i, p); i = p } else { break }
        }
    }

    mutating func pop() -> MergeCandidate? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            let n = items.count
            while true {
                let a = 2 * i + 1, b = a + 1
                var m = i
                if a < n && items[a].before(items[m]) { m = a }
                if b < n && items[b].before(items[m]) { m = b }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
