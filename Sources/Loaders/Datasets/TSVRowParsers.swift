import Foundation

/// Row layouts of the GLUE tab-separated files (read with quoting off).
enum TSVRowParsers {
    /// Parses every line of one TSV file of `task`; `fileName` is used in ids of rows that carry none.
    static func parse(_ task: TaskName, lines: [TextLine], file: String, fileName: String) throws -> [Example] {
        switch task {
        case .sst2:
            let rows = try dropHeader(lines, expected: "sentence\tlabel", file: file)
            return try rows.map { line in
                let ctx = RowContext(file: file, line: line.number)
                let f = try RowReader.fields(line, expected: 2, context: ctx, layout: "sentence, label")
                return .classification(
                    ClassificationExample(
                        id: "\(fileName):\(line.number)", text: f[0], pair: nil,
                        label: try binaryLabel(f[1], field: "label", ctx), labelNames: task.labelNames))
            }
        case .cola:
            // The raw CoLA files have no header.
            return try lines.map { line in
                let ctx = RowContext(file: file, line: line.number)
                let f = try RowReader.fields(
                    line, expected: 4, context: ctx,
                    layout: "source, label, original mark, sentence")
                return .classification(
                    ClassificationExample(
                        id: "\(fileName):\(line.number)", text: f[3], pair: nil,
                        label: try binaryLabel(f[1], field: "label", ctx), labelNames: task.labelNames))
            }
        case .mrpc:
            let rows = try dropHeader(lines, expected: "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", file: file)
            return try rows.map { line in
                let ctx = RowContext(file: file, line: line.number)
                let f = try RowReader.fields(
                    line, expected: 5, context: ctx,
                    layout: "Quality, #1 ID, #2 ID, #1 String, #2 String")
                return .classification(
                    ClassificationExample(
                        id: "\(f[1])-\(f[2])", text: f[3], pair: f[4],
                        label: try binaryLabel(f[0], field: "Quality", ctx), labelNames: task.labelNames))
            }
        case .arcChallenge, .arcEasy, .openBookQA, .boolQ, .winoGrande, .rte:
            throw LoadError(.unsupported, file: file, item: "", "\(task) is not a TSV task")
        }
    }

    /// Checks and removes the header line (the BOM, if any, is already gone).
    private static func dropHeader(_ lines: [TextLine], expected: String, file: String) throws -> ArraySlice<TextLine> {
        guard let first = lines.first else { return [] }
        guard first.text == expected else {
            let shown = expected.replacingOccurrences(of: "\t", with: "\\t")
            throw LoadError(
                .invalidHeader, file: file, item: "line \(first.number)",
                "line \(first.number), field 'header': expected \"\(shown)\"")
        }
        return lines.dropFirst()
    }

    private static func binaryLabel(_ s: String, field: String, _ ctx: RowContext) throws -> Int {
        guard let v = Int(s) else {
            throw ctx.malformed(field, "\"\(s)\" is not an integer")
        }
        guard v == 0 || v == 1 else { throw ctx.malformed(field, "\(v) is out of range (expected 0 or 1)") }
        return v
    }
}
