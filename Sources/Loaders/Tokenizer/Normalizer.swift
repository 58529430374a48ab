import Foundation

/// The first pipeline stage: rewrites the text of each segment between added tokens.
indirect enum Normalizer: Sendable {
    case bert(cleanText: Bool, handleChineseChars: Bool, stripAccents: Bool, lowercase: Bool)
    case lowercase
    case stripAccents
    case nfc, nfd, nfkc, nfkd
    case prepend(String)
    case replace(pattern: String, content: String)
    case strip(left: Bool, right: Bool)
    case sequence([Normalizer])

    func apply(_ text: String) -> String {
        switch self {
        case let .bert(clean, chinese, strip, lower):
            return Self.bert(text, clean: clean, chinese: chinese, strip: strip, lower: lower)
        case .lowercase:
            return Self.lowercased(text)
        case .stripAccents:
            return Self.removeNonspacingMarks(text)
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return text.decomposedStringWithCanonicalMapping
        case .nfkc: return text.precomposedStringWithCompatibilityMapping
        case .nfkd: return text.decomposedStringWithCompatibilityMapping
        case .prepend(let p):
            // Hugging Face prepends only to non-empty text.
            return text.isEmpty ? text : p + text
        case let .replace(pattern, content):
            return Self.replaceScalars(text, pattern, content)
        case let .strip(left, right):
            var scalars = Substring(text).unicodeScalars[...]
            if left { while let f = scalars.first, f.isWhiteSpace { scalars.removeFirst() } }
            if right { while let l = scalars.last, l.isWhiteSpace { scalars.removeLast() } }
            return String(scalars)
        case .sequence(let list):
            return list.reduce(text) { $1.apply($0) }
        }
    }

    /// Literal replacement on Unicode scalars (Foundation's and Character comparison would treat canonically
    /// equivalent sequences as equal, which the Rust code does not).
    static func replaceScalars(_ text: String, _ pattern: String, _ content: String) -> String {
        let p = Array(pattern.unicodeScalars)
        guard let first = p.first else { return text }
        let s = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < s.count {
            if s[i] == first && i + p.count <= s.count && s[i..<(i + p.count)].elementsEqual(p) {
                out.append(contentsOf: content.unicodeScalars)
                i += p.count
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return String(out)
    }

    /// Per-scalar full lowercase mapping, as Rust's `char::to_lowercase` (no context-dependent final sigma).
    static func lowercased(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return text.lowercased() }
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            if s.properties.changesWhenLowercased {
                out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
            } else {
                out.append(s)
            }
        }
        return String(out)
    }

    /// NFD, then drop combining marks of category Mn: "Café" -> "Cafe".
    static func removeNonspacingMarks(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
        var out = String.UnicodeScalarView()
        for s in text.decomposedStringWithCanonicalMapping.unicodeScalars
        where s.properties.generalCategory != .nonspacingMark {
            out.append(s)
        }
        return String(out)
    }

    static func bert(_ text: String, clean: Bool, chinese: Bool, strip: Bool, lower: Bool) -> String {
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            if clean {
                if s.value == 0 || s.value == 0xFFFD || s.isBertControl { continue }
                if s.isWhiteSpace { out.append(" "); continue }
            }
            if chinese && s.isCJKIdeograph {
                out.append(" "); out.append(s); out.append(" ")
            } else {
                out.append(s)
            }
        }
        var result = String(out)
        if strip { result = removeNonspacingMarks(result) }
        if lower { result = lowercased(result) }
        return result
    }
}
