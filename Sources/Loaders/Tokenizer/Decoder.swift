/// Turns tokens back into text (the inverse of the pre-tokenizer's spelling, not of the normalizer).
indirect enum TokenDecoder: Sendable {
    case byteLevel
    case wordPiece(prefix: String, cleanup: Bool)
    case metaspace(replacement: String, prependScheme: PreTokenizer.MetaspacePrepend)
    case replace(pattern: String, content: String)
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case sequence([TokenDecoder])

    func decode(_ tokens: [String]) -> String { chain(tokens).joined() }

    /// Each decoder maps the token list to a new list, as in Hugging Face's `decode_chain`.
    func chain(_ tokens: [String]) -> [String] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            for t in tokens { ByteLevelAlphabet.decode(t, into: &bytes) }
            return [String(decoding: bytes, as: UTF8.self)]
        case let .wordPiece(prefix, cleanup):
            return tokens.enumerated().map { i, t in
                var s = t
                if i > 0 { s = s.hasPrefix(prefix) ? String(s.dropFirst(prefix.count)) : " " + s }
                return cleanup ? Self.cleanup(s) : s
            }
        case let .metaspace(replacement, scheme):
            return tokens.enumerated().map { i, t in
                var s = Normalizer.replaceScalars(t, replacement, " ")
                if i == 0 && scheme != .never && s.unicodeScalars.first == " " { s.removeFirst() }
                return s
            }
        case let .replace(pattern, content):
            return tokens.map { Normalizer.replaceScalars($0, pattern, content) }
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(validating: pending, as: UTF8.self) {
                    out.append(s)
                } else {
                    out.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
                }
                pending.removeAll()
            }
            for t in tokens {
                if let b = Self.byteToken(t) { pending.append(b) } else { flush(); out.append(t) }
            }
            flush()
            return out
        case .fuse:
            return [tokens.joined()]
        case let .strip(content, start, stop):
            return tokens.map { t in
                var s = Array(t.unicodeScalars)
                var n = 0
                while n < start, let f = s.first, f == content { s.removeFirst(); n += 1 }
                n = 0
                while n < stop, let l = s.last, l == content { s.removeLast(); n += 1 }
                return PreTokenizer.substring(s, 0..<s.count)
            }
        case .sequence(let list):
            return list.reduce(tokens) { $1.chain($0) }
        }
    }

    /// "<0x41>" -> 0x41.
    static func byteToken(_ t: String) -> UInt8? {
        let u = Array(t.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    static func cleanup(_ s: String) -> String {
        var r = s
        for (a, b) in [
            (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
            (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
        ] {
            r = Normalizer.replaceScalars(r, a, b)
        }
        return r
    }
}
