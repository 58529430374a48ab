/// GPT-2's reversible byte-to-character map: printable Latin-1 bytes ('!'…'~', '¡'…'¬', '®'…'ÿ') stand for
/// themselves, the other 68 bytes take the code points from U+0100 upwards in byte order, so every byte
/// sequence becomes a string of visible characters (a space becomes 'Ġ', a newline 'Ċ').
enum ByteLevelAlphabet {
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in byteToScalar.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// The byte-level spelling of `text`'s UTF-8 bytes.
    static func encode(_ text: Substring) -> String {
        var out = String.UnicodeScalarView()
        for b in text.utf8 { out.append(byteToScalar[Int(b)]) }
        return String(out)
    }

    /// Back to bytes; characters outside the alphabet (added tokens) keep their own UTF-8 bytes.
    static func decode(_ text: String, into bytes: inout [UInt8]) {
        for s in text.unicodeScalars {
            if let b = scalarToByte[s.value] {
                bytes.append(b)
            } else {
                bytes.append(contentsOf: Array(String(s).utf8))
            }
        }
    }
}
