/// The second stage: cuts a normalized segment into words; the model then tokenizes each word alone.
indirect enum PreTokenizer: Sendable {
    /// Optional GPT-2 regex split, then every byte spelled in the byte-level alphabet.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(SplitPattern, behavior: SplitBehavior, invert: Bool)
    /// Numbers (general category N) cut out, one by one or as runs.
    case digits(individualDigits: Bool)
    /// Whitespace removed, every punctuation character its own word.
    case bert
    /// `\w+|[^\w\s]+`.
    case whitespace
    case whitespaceSplit
    case punctuation(SplitBehavior)
    case metaspace(replacement: Unicode.Scalar, prependScheme: MetaspacePrepend, split: Bool)
    case sequence([PreTokenizer])

    enum MetaspacePrepend: String, Sendable { case always, first, never }

    /// `firstSegment`: the pieces come from the text before any added token (Metaspace's "first" scheme).
    func apply(_ pieces: [String], firstSegment: Bool) -> [String] {
        var out: [String] = []
        out.reserveCapacity(pieces.count * 4)
        for piece in pieces { apply(piece, firstSegment: firstSegment, into: &out) }
        return out
    }

    private func apply(_ piece: String, firstSegment: Bool, into out: inout [String]) {
        switch self {
        case let .byteLevel(addPrefixSpace, useRegex):
            let text = addPrefixSpace && piece.unicodeScalars.first != " " ? " " + piece : piece
            if useRegex {
                let s = Array(text.unicodeScalars)
                for r in RegexScanners.gpt2(s) { out.append(ByteLevelAlphabet.encode(Substring(Self.substring(s, r)))) }
            } else {
                out.append(ByteLevelAlphabet.encode(Substring(text)))
            }
        case let .split(pattern, behavior, invert):
            let s = Array(piece.unicodeScalars)
            emit(s, behavior.apply(matches: pattern.matches(in: s), count: s.count, invert: invert), &out)
        case .digits(let individual):
            let s = Array(piece.unicodeScalars)
            emit(s, Self.perScalar(s, individual ? .isolated : .contiguous) { $0.isNumberN }, &out)
        case .bert:
            let s = Array(piece.unicodeScalars)
            let cut = Self.perScalar(s, .removed) { $0.isWhiteSpace }
            for r in cut {
                let sub = Array(s[r])
                for r2 in Self.perScalar(sub, .isolated, { $0.isBertPunctuation }) {
                    out.append(Self.substring(sub, r2))
                }
            }
        case .whitespace:
            let s = Array(piece.unicodeScalars)
            var i = 0
            while i < s.count {
                if s[i].isWhiteSpace { i += 1; continue }
                let word = Self.isWordScalar(s[i])
                var j = i
                while j < s.count && !s[j].isWhiteSpace && Self.isWordScalar(s[j]) == word { j += 1 }
                out.append(Self.substring(s, i..<j))
                i = j
            }
        case .whitespaceSplit:
            let s = Array(piece.unicodeScalars)
            emit(s, Self.perScalar(s, .removed) { $0.isWhiteSpace }, &out)
        case .punctuation(let behavior):
            let s = Array(piece.unicodeScalars)
            emit(s, Self.perScalar(s, behavior) { $0.isBertPunctuation }, &out)
        case let .metaspace(replacement, scheme, split):
            var s = piece.unicodeScalars.map { $0 == " " ? replacement : $0 }
            let prepend = scheme == .always || (scheme == .first && firstSegment)
            if prepend && s.first != replacement { s.insert(replacement, at: 0) }
            if split {
                emit(s, Self.perScalar(s, .mergedWithNext) { $0 == replacement }, &out)
            } else {
                out.append(Self.substring(s, 0..<s.count))
            }
        case .sequence(let list):
            var current = [piece]
            for p in list { current = p.apply(current, firstSegment: firstSegment) }
            out.append(contentsOf: current)
        }
    }

    private func emit(_ s: [Unicode.Scalar], _ ranges: [Range<Int>], _ out: inout [String]) {
        for r in ranges { out.append(Self.substring(s, r)) }
    }

    static func substring(_ s: [Unicode.Scalar], _ r: Range<Int>) -> String {
        var v = String.UnicodeScalarView()
        v.append(contentsOf: s[r])
        return String(v)
    }

    /// Every scalar satisfying `isDelimiter` is a one-scalar match, then `behavior` cuts.
    static func perScalar(
        _ s: [Unicode.Scalar], _ behavior: SplitBehavior,
        _ isDelimiter: (Unicode.Scalar) -> Bool
    ) -> [Range<Int>] {
        var matches: [Range<Int>] = []
        for (i, x) in s.enumerated() where isDelimiter(x) { matches.append(i..<(i + 1)) }
        return behavior.apply(matches: matches, count: s.count)
    }

    /// Regex `\w`: letters, marks, numbers and connector punctuation.
    static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        switch s.charClass {
        case .letter, .number: return true
        case .whitespace: return false
        case .other:
            switch s.properties.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark, .connectorPunctuation: return true
            default: return false
            }
        }
    }
}
