import Foundation

/// Where a row came from, so every error names the file, the line and the field.
struct RowContext: Sendable {
    let file: String
    let line: Int  // 1-based, counting a header line

    func malformed(_ field: String, id: String? = nil, _ problem: String) -> LoadError {
        let idPart = id.map { " (id \($0))" } ?? ""
        return LoadError(
            .malformedRow, file: file, item: "line \(line)",
            "line \(line)\(idPart), field '\(field)': \(problem)")
    }
}

/// One non-blank text line of a file.
struct TextLine: Sendable {
    let number: Int
    let text: String
}

enum RowReader {
    /// Splits `data` into lines: LF or CRLF endings, a UTF-8 byte-order mark at the start dropped (the MRPC
    /// files have one), a missing final newline accepted (CoLA out_of_domain_dev.tsv), blank lines skipped
    /// (a trailing empty line is common) but still counted so line numbers match an editor's.
    static func lines(_ data: Data, file: String) throws -> [TextLine] {
        // Works on bytes: Character-level scanning (grapheme breaking) made loading the 67k-row SST-2
        // train file take seconds.
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [TextLine] in
            let bytes = raw.bindMemory(to: UInt8.self)
            var out: [TextLine] = []
            var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
            var number = 0
            while start < bytes.count {
                let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
                number += 1
                var stop = end
                if stop > start && bytes[stop - 1] == 0x0D { stop -= 1 }
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<stop])
                if !slice.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
                    guard let text = String(validating: slice, as: UTF8.self) else {
                        throw LoadError(
                            .malformedRow, file: file, item: "line \(number)",
                            "line \(number), field '(row)': not valid UTF-8")
                    }
                    out.append(TextLine(number: number, text: text))
                }
                start = end + 1
            }
            return out
        }
    }

    /// Tab-separated fields with quoting off (GLUE's files are read that way: quotes are ordinary text).
    static func fields(_ line: TextLine, expected: Int, context: RowContext, layout: String) throws -> [String] {
        // Split the UTF-8 bytes: a tab never occurs inside a multi-byte sequence.
        let parts = line.text.utf8.split(separator: 0x09, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard parts.count == expected else {
            throw context.malformed(
                "columns", "expected \(expected) tab-separated columns (\(layout)), found \(parts.count)")
        }
        return parts
    }
}
