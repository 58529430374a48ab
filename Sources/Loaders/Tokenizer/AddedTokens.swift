/// A token matched in the raw text before any other stage (special tokens such as "<|im_start|>", "[CLS]").
public struct AddedToken: Sendable, Equatable {
    public var content: String
    public var id: Int
    public var special: Bool
    /// Swallow whitespace on the left / right of the match.
    public var lstrip: Bool
    public var rstrip: Bool
    /// Matched in the normalized text (content normalized too) instead of the raw text.
    public var normalized: Bool
    /// Only matched when not inside a word.
    public var singleWord: Bool

    public init(
        content: String, id: Int, special: Bool, lstrip: Bool = false, rstrip: Bool = false,
        normalized: Bool = false, singleWord: Bool = false
    ) {
        self.content = content; self.id = id; self.special = special; self.lstrip = lstrip
        self.rstrip = rstrip; self.normalized = normalized; self.singleWord = singleWord
    }
}

/// A piece of input text: either plain text for the normalizer / pre-tokenizer / model, or an added token.
enum Segment {
    case text([Unicode.Scalar])
    case token(Int)
}

/// Leftmost-longest matching of a set of added tokens, scanning Unicode scalars.
struct AddedTokenMatcher: Sendable {
    private struct Entry: Sendable { let scalars: [Unicode.Scalar]; let token: AddedToken }
    /// Candidates by first scalar, longest first.
    private let byFirst: [UInt32: [Entry]]

    init(_ tokens: [AddedToken], normalize: ((String) -> String)?) {
        var map: [UInt32: [Entry]] = [:]
        for t in tokens {
            let text = normalize.map { $0(t.content) } ?? t.content
            let s = Array(text.unicodeScalars)
            guard let f = s.first else { continue }
            map[f.value, default: []].append(Entry(scalars: s, token: t))
        }
        byFirst = map.mapValues { $0.sorted { $0.scalars.count > $1.scalars.count } }
    }

    var isEmpty: Bool { byFirst.isEmpty }

    /// Cuts `s` into text and token segments; empty text segments are dropped.
    func split(_ s: [Unicode.Scalar]) -> [Segment] {
        if byFirst.isEmpty { return s.isEmpty ? [] : [.text(s)] }
        var out: [Segment] = []
        var textStart = 0
        var i = 0
        while i < s.count {
            guard let candidates = byFirst[s[i].value],
                let (entry, end) = firstMatch(candidates, s, at: i)
            else { i += 1; continue }
            var start = i
            var stop = end
            if entry.token.lstrip { while start > textStart && s[start - 1].isWhiteSpace { start -= 1 } }
            if entry.token.rstrip { while stop < s.count && s[stop].isWhiteSpace { stop += 1 } }
            if start > textStart { out.append(.text(Array(s[textStart..<start]))) }
            out.append(.token(entry.token.id))
            i = stop
            textStart = stop
        }
        if textStart < s.count { out.append(.text(Array(s[textStart...]))) }
        return out
    }

    private func firstMatch(_ candidates: [Entry], _ s: [Unicode.Scalar], at i: Int) -> (Entry, Int)? {
        for e in candidates {
            let end = i + e.scalars.count
            guard end <= s.count, s[i..<end].elementsEqual(e.scalars) else { continue }
            if e.token.singleWord {
                let leftOK = i == 0 || !Self.isWordChar(s[i - 1])
                let rightOK = end == s.count || !Self.isWordChar(s[end])
                if !(leftOK && rightOK) { continue }
            }
            return (e, end)
        }
        return nil
    }

    private static func isWordChar(_ s: Unicode.Scalar) -> Bool {
        s == "_" || s.charClass == .letter || s.charClass == .number
    }
}
