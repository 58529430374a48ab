import Foundation

/// Reads task splits from a data directory laid out as `<dataDirectory>/<task>/<file>`, each file either
/// plain or zstd-compressed as `<file>.zst` (the bundled fixtures are compressed; a user's own copy given
/// with `--data-dir` may be either).
public enum DatasetLoader {
    public static func load(task: TaskName, split: Split, dataDirectory: URL) throws -> Dataset {
        let names = try task.files(for: split)
        var paths: [String] = []
        var examples: [Example] = []
        for name in names {
            let path = try resolve(task: task, file: name, dataDirectory: dataDirectory)
            paths.append(path)
            let rows = try parse(task, data: Zstd.readMaybeCompressed(path: path), file: path, fileName: name)
            guard !rows.isEmpty else {
                throw LoadError(
                    .truncated, file: path, item: "",
                    "no examples: the file is empty or has only a header (\(task) \(split))")
            }
            examples += rows
        }
        return Dataset(task: task, split: split, files: paths, examples: examples)
    }

    /// Loads from the bundled (or `BAYEVAL_DATA`) directory found by `DataDirectory.locate()`.
    public static func load(task: TaskName, split: Split) throws -> Dataset {
        try load(task: task, split: split, dataDirectory: DataDirectory.locate())
    }

    /// The files `load` reads for a split (what a planned job's input hash covers).
    public static func paths(task: TaskName, split: Split, dataDirectory: URL) throws -> [String] {
        try task.files(for: split).map { try resolve(task: task, file: $0, dataDirectory: dataDirectory) }
    }

    /// The path of `file` for `task`: the plain file if present (a user's uncompressed copy wins), else
    /// `<file>.zst`.
    static func resolve(task: TaskName, file: String, dataDirectory: URL) throws -> String {
        let plain = dataDirectory.appendingPathComponent(task.rawValue).appendingPathComponent(file).path
        let fm = FileManager.default
        if fm.fileExists(atPath: plain) { return plain }
        if fm.fileExists(atPath: plain + ".zst") { return plain + ".zst" }
        throw LoadError(
            .io, file: plain, item: "",
            "missing: neither \(file) nor \(file).zst exists in \(dataDirectory.path)/\(task.rawValue)")
    }

    /// Parses the bytes of one (decompressed) file of `task`. `file` is the path used in errors.
    static func parse(_ task: TaskName, data: Data, file: String, fileName: String) throws -> [Example] {
        let lines = try RowReader.lines(data, file: file)
        switch task {
        case .sst2, .cola, .mrpc:
            return try TSVRowParsers.parse(task, lines: lines, file: file, fileName: fileName)
        case .arcChallenge, .arcEasy, .openBookQA, .boolQ, .winoGrande, .rte:
            return try lines.map { line in
                try JSONRowParsers.parse(task, JSONRow(line, file: file), fileName: fileName)
            }
        }
    }
}
