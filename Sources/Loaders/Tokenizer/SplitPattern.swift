/// What a `Split` pre-tokenizer looks for: one of the two hand-scanned regexes, a literal string, or any
/// other regex through Swift `Regex` (slower, and bound to Swift's regex dialect).
enum SplitPattern: Sendable {
    case gpt2
    case llama3
    case literal([Unicode.Scalar])
    case regex(CompiledRegex)

    /// Non-overlapping match ranges in scalar offsets, left to right.
    func matches(in s: [Unicode.Scalar]) -> [Range<Int>] {
        switch self {
        case .gpt2: return RegexScanners.gpt2(s)
        case .llama3: return RegexScanners.llama3(s)
        case .literal(let p):
            guard !p.isEmpty else { return [] }
            var out: [Range<Int>] = []
            var i = 0
            while i + p.count <= s.count {
                if s[i] == p[0] && s[i..<(i + p.count)].elementsEqual(p) {
                    out.append(i..<(i + p.count))
                    i += p.count
                } else {
                    i += 1
                }
            }
            return out
        case .regex(let r):
            return r.matches(in: s)
        }
    }
}

/// A Swift `Regex` compiled once; matching does not mutate it, so sharing it between threads is safe.
final class CompiledRegex: @unchecked Sendable {
    let pattern: String
    private let regex: Regex<AnyRegexOutput>

    init(_ pattern: String) throws {
        self.pattern = pattern
        regex = try Regex(pattern).matchingSemantics(.unicodeScalar)
    }

    func matches(in s: [Unicode.Scalar]) -> [Range<Int>] {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: s)
        let text = String(view)
        var out: [Range<Int>] = []
        var offset = 0
        var last = text.startIndex
        for m in text.matches(of: regex) where !m.range.isEmpty {
            offset += text.unicodeScalars.distance(from: last, to: m.range.lowerBound)
            let len = text.unicodeScalars.distance(from: m.range.lowerBound, to: m.range.upperBound)
            out.append(offset..<(offset + len))
            offset += len
            last = m.range.upperBound
        }
        return out
    }
}

/// How a split treats the delimiters it found (Hugging Face's SplitDelimiterBehavior).
enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"

    /// Cuts `s` (length `n`) at the `matches`, returning the pieces' ranges; empty pieces are dropped.
    func apply(matches: [Range<Int>], count n: Int, invert: Bool = false) -> [Range<Int>] {
        // Every scalar lies in exactly one part: a match or a gap between matches.
        var parts: [(Range<Int>, Bool)] = []
        parts.reserveCapacity(matches.count * 2 + 1)
        var pos = 0
        for m in matches {
            if m.lowerBound > pos { parts.append((pos..<m.lowerBound, invert)) }
            parts.append((m, !invert))
            pos = m.upperBound
        }
        if pos < n { parts.append((pos..<n, invert)) }

        var out: [Range<Int>] = []
        out.reserveCapacity(parts.count)
        switch self {
        case .removed:
            for (r, isMatch) in parts where !isMatch { out.append(r) }
        case .isolated:
            for (r, _) in parts { out.append(r) }
        case .contiguous:
            var previousMatch = false
            for (r, isMatch) in parts {
                if isMatch && previousMatch, let l = out.last {
                    out[out.count - 1] = l.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
        case .mergedWithPrevious:
            var previousMatch = false
            for (r, isMatch) in parts {
                if isMatch && !previousMatch, let l = out.last {
                    out[out.count - 1] = l.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            for (r, isMatch) in parts.reversed() {
                if isMatch && !previousMatch, let l = out.last {
                    out[out.count - 1] = r.lowerBound..<l.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
            out.reverse()
        }
        return out.filter { !$0.isEmpty }
    }
}
