/// Character classes the tokenizers need, with the semantics of the Rust / Oniguruma code behind Hugging Face
/// `tokenizers`: `\s` and Rust's `char::is_whitespace` are the Unicode White_Space property (so U+00A0,
/// U+0085, U+3000 are whitespace but U+200B is not), `\p{L}` / `\p{N}` are general categories L* / N*.
enum CharClass: UInt8 {
    case letter, number, whitespace, other
}

extension Unicode.Scalar {
    /// ASCII is looked up in a table: it is most of the text and the property lookup is the slow part.
    @inline(__always) var charClass: CharClass {
        if value < 128 { return asciiClasses[Int(value)] }
        if properties.isWhitespace { return .whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    @inline(__always) var isLetterL: Bool { charClass == .letter }
    @inline(__always) var isNumberN: Bool { charClass == .number }
    @inline(__always) var isWhiteSpace: Bool { charClass == .whitespace }

    /// BERT's punctuation: any ASCII punctuation (which includes symbols such as `$ + < = > ^ \` | ~`) or a
    /// Unicode P* character.
    var isBertPunctuation: Bool {
        let v = value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) {
            return true
        }
        switch properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// Rust's `char::is_other` minus tab / newline / carriage return: the characters BERT's clean_text drops.
    var isBertControl: Bool {
        if value == 9 || value == 10 || value == 13 { return false }
        switch properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// The CJK ideograph blocks BERT surrounds with spaces (the ranges of the original BERT code).
    var isCJKIdeograph: Bool {
        switch value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
            0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}

private let asciiClasses: [CharClass] = (0..<128).map { v -> CharClass in
    switch v {
    case 9...13, 32: return .whitespace
    case 48...57: return .number
    case 65...90, 97...122: return .letter
    default: return .other
    }
}
