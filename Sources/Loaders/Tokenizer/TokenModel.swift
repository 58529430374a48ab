import Foundation

/// The third stage: turns one pre-tokenized word into ids.
protocol TokenModel: Sendable {
    var vocabularySize: Int { get }
    func tokenToID(_ token: String) -> Int?
    func idToToken(_ id: Int) -> String?
    func tokenize(_ word: String, into ids: inout [Int])
}

/// A bounded word -> ids memo shared by all threads (tokenizing the same words again is most of the work
/// on natural text). Cleared wholesale when full: cheap, and the frequent words come straight back.
final class WordCache: @unchecked Sendable {
    private var map: [TokenKey: [Int]] = [:]
    private let lock = NSLock()
    private let capacity: Int

    init(capacity: Int = 100_000) { self.capacity = capacity }

    func get(_ word: String) -> [Int]? {
        lock.lock(); defer { lock.unlock() }
        return map[TokenKey(word)]
    }

    func set(_ word: String, _ ids: [Int]) {
        lock.lock(); defer { lock.unlock() }
        if map.count >= capacity { map.removeAll(keepingCapacity: true) }
        map[TokenKey(word)] = ids
    }
}

/// A dictionary key comparing and hashing a string's UTF-8 bytes. Swift's `String` equality treats
/// canonically equivalent strings ("é" and "e" + U+0301) as equal, the Rust tokenizers do not; hashing
/// bytes is also much faster for the non-ASCII byte-level spellings ("Ġthe").
struct TokenKey: Hashable, Sendable {
    let string: String
    init(_ string: String) { self.string = string }

    static func == (a: TokenKey, b: TokenKey) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }

    func hash(into hasher: inout Hasher) {
        let done: Void? = string.utf8.withContiguousStorageIfAvailable {
            hasher.combine(bytes: UnsafeRawBufferPointer($0))
        }
        if done == nil { for b in string.utf8 { hasher.combine(b) } }
    }
}

/// Vocabulary shared by the models: token strings by id and ids by string.
struct Vocabulary: Sendable {
    let tokens: [String]
    let ids: [TokenKey: Int]

    /// Token `i` has id `i`; the first of duplicate spellings keeps the id; "" marks an unused id.
    init(tokens: [String]) {
        self.tokens = tokens
        var ids = [TokenKey: Int](minimumCapacity: tokens.count)
        for (i, t) in tokens.enumerated() where !t.isEmpty && ids[TokenKey(t)] == nil { ids[TokenKey(t)] = i }
        self.ids = ids
    }

    func id(_ token: String) -> Int? { ids[TokenKey(token)] }

    func token(_ id: Int) -> String? { id >= 0 && id < tokens.count ? tokens[id] : nil }
}
