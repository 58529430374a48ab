/// Hand-written scanners equivalent to the two regular expressions almost every byte-level tokenizer uses.
/// They return the match ranges (scalar offsets) the regex engine would find scanning left to right; both
/// patterns match every character, so there are no gaps. Alternatives are tried in the pattern's order, as
/// a backtracking engine does (so LLaMA-3's "'s" wins over "'sam" being one word).
enum RegexScanners {
    static let gpt2Pattern =
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"#
        + #"|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Length of a contraction ('s 't 're 've 'm 'll 'd) at `i`, or 0.
    @inline(__always)
    static func contraction(_ s: [Unicode.Scalar], _ i: Int, caseInsensitive: Bool) -> Int {
        guard s[i] == "'", i + 1 < s.count else { return 0 }
        func lower(_ k: Int) -> UInt32 {
            let v = s[k].value
            return caseInsensitive && v >= 65 && v <= 90 ? v + 32 : v
        }
        switch lower(i + 1) {
        case 0x73, 0x74, 0x6D, 0x64: return 2  // s t m d
        case 0x72, 0x76:  // r v -> 're 've
            return i + 2 < s.count && lower(i + 2) == 0x65 ? 3 : 0
        case 0x6C:  // l -> 'll
            return i + 2 < s.count && lower(i + 2) == 0x6C ? 3 : 0
        default: return 0
        }
    }

    /// End of the run of scalars of class `c` starting at `i`.
    @inline(__always)
    static func run(_ s: [Unicode.Scalar], from i: Int, _ c: CharClass) -> Int {
        var j = i
        while j < s.count && s[j].charClass == c { j += 1 }
        return j
    }

    /// `\s+(?!\S)|\s+` at a whitespace scalar: the whole run at the end of the text, otherwise the run less
    /// its last scalar (which then prefixes the next word), but at least one scalar.
    @inline(__always)
    static func whitespaceRun(_ s: [Unicode.Scalar], _ i: Int) -> Int {
        let j = run(s, from: i, .whitespace)
        if j == s.count { return j }
        return j - i >= 2 ? j - 1 : j
    }

    static func gpt2(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        out.reserveCapacity(s.count / 4 + 1)
        var i = 0
        let n = s.count
        while i < n {
            let start = i
            let k = contraction(s, i, caseInsensitive: false)
            if k > 0 {
                i += k
            } else {
                var c = s[i].charClass
                var p = i
                if s[i] == " " && i + 1 < n {
                    let next = s[i + 1].charClass
                    if next != .whitespace { c = next; p = i + 1 }
                }
                switch c {
                case .letter, .number:
                    i = run(s, from: p, c)
                case .other:
                    var j = p
                    while j < n && s[j].charClass == .other { j += 1 }
                    i = j
                case .whitespace:
                    i = whitespaceRun(s, i)
                }
            }
            out.append(start..<i)
        }
        return out
    }

    static func llama3(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        out.reserveCapacity(s.count / 4 + 1)
        let n = s.count
        var i = 0
        @inline(__always) func isCRLF(_ x: Unicode.Scalar) -> Bool { x == "\r" || x == "\n" }
        while i < n {
            let start = i
            let k = contraction(s, i, caseInsensitive: true)
            let c = s[i].charClass
            if k > 0 {
                i += k
            } else if c == .letter {
                i = run(s, from: i, .letter)
            } else if c != .number && !isCRLF(s[i]) && i + 1 < n && s[i + 1].charClass == .letter {
                // [^\r\n\p{L}\p{N}]?\p{L}+ : one leading non-letter (space, tab, punctuation) joins the word.
                i = run(s, from: i + 1, .letter)
            } else if c == .number {
                var j = i
                while j < n && j - i < 3 && s[j].charClass == .number { j += 1 }
                i = j
            } else if c == .other || (s[i] == " " && i + 1 < n && s[i + 1].charClass == .other) {
                // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
                var j = c == .other ? i : i + 1
                while j < n && s[j].charClass == .other { j += 1 }
                while j < n && isCRLF(s[j]) { j += 1 }
                i = j
            } else {
                // Whitespace: `\s*[\r\n]+` reaches the last CR/LF of the run, else `\s+(?!\S)|\s+`.
                let j = run(s, from: i, .whitespace)
                var lastNewline = -1
                for q in i..<j where isCRLF(s[q]) { lastNewline = q }
                i = lastNewline >= 0 ? lastNewline + 1 : whitespaceRun(s, i)
            }
            out.append(start..<i)
        }
        return out
    }
}
