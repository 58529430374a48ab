import Foundation
import Loaders
import Metrics

/// One result row of a run with the per-example predictions it was computed from.
public struct ComparedResult: Sendable {
    public let result: MethodResult
    /// The row's method as `--methods` names it (map, tfb, laplace-kron-probit, …).
    public let method: String
    /// Sorted by example id (files hold examples in the order they were scored, which --resume and
    /// batching change), so ties and pooling never depend on it; nil rows (non-finite logits) are dropped,
    /// as the metrics dropped them.
    public let predictions: [PredictionRow]
    /// The predictions file the rows came from.
    public let predictionsFile: String
}

/// The parts of a prediction line the report needs (Metrics and Records stay free of Runtime).
public struct PredictionRow: Sendable, Equatable, Decodable {
    public let id: String
    public let label: Int
    public let probs: [Double]?
    public let method: String?
}

/// A run record as the compare report reads it: where it came from, what it was run on, its rows.
public struct ComparedRun: Sendable {
    public let recordPath: String
    public let record: RunRecord
    /// The base model's file or folder name.
    public let model: String
    public let task: String
    public let split: String
    public let training: String
    public let seed: Int?
    /// The adapter's path as the run recorded it, standardised (the checkpoint the run belongs to).
    public let checkpoint: String
    /// The run's own MAP reference row (tfb, laplace, calibrate print one), for exact pairing.
    public let reference: ComparedResult?
    /// The rows the run was made for (`RunRecord.posteriorResults`), each with its predictions; for a σ
    /// sweep, one per σ.
    public let results: [ComparedResult]

    /// A σ sweep: tfb with --sigmas or --sigma-grid (no search, one predictions file per σ).
    public var isSweep: Bool { Self.isSweep(record) }

    static func isSweep(_ record: RunRecord) -> Bool {
        record.command == .tfb && record.tfbSearch == nil
            && (record.configuration["sigmas"] != nil || record.configuration["sigma_grid"] != nil)
    }

    /// Settings two runs must share for one to be the other's baseline on the same examples.
    public var pairingKey: [String] {
        let c = record.configuration
        return [checkpoint, model, task, split] + ["limit", "prompts", "answer_prefix", "data_dir"].map { c[$0] ?? "" }
    }
}

/// The per-σ predictions files of `tfb --sigmas`: a.jsonl → a.sigma-0.003.jsonl.
public enum SweepFiles {
    public static func path(_ predictions: String, sigma: Double) -> String {
        let ns = predictions as NSString
        let ext = ns.pathExtension.isEmpty ? "" : "." + ns.pathExtension
        return ns.deletingPathExtension + ".sigma-" + String(format: "%.6g", sigma) + ext
    }
}

public enum ComparisonInputs {
    /// Every run.json named or found under the given paths (files, run directories, trees), in path
    /// order; training records are left out (they compare nothing post hoc).
    public static func recordPaths(_ paths: [String]) throws -> [String] {
        let fm = FileManager.default
        var out: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw LoadError(.io, file: path, item: "", "no such file or directory")
            }
            if !isDirectory.boolValue {
                out.append(path)
                continue
            }
            let found = (fm.enumerator(atPath: path)?.allObjects as? [String] ?? [])
                .filter { ($0 as NSString).lastPathComponent == "run.json" }.sorted()
                .map { (path as NSString).appendingPathComponent($0) }
            guard !found.isEmpty else {
                throw LoadError(.missingKey, file: path, item: "run.json", "no run record anywhere under this path")
            }
            out += found
        }
        // The same record named twice (a tree and a run inside it) counts once.
        var seen = Set<String>()
        return out.filter { seen.insert(URL(fileURLWithPath: $0).standardizedFileURL.path).inserted }
    }

    /// Reads a record and its predictions, checking that they agree: the same rows, the same number of
    /// examples and the same metrics recomputed (to 1e-9), else an error naming both files.
    public static func load(_ recordPath: String) throws -> ComparedRun? {
        let record = try RunRecord.read(from: recordPath)
        guard record.command != .train else { return nil }
        let directory = (recordPath as NSString).deletingLastPathComponent
        let c = record.configuration
        let adapter = c["adapter"].map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? ""
        let described = CheckpointTree.describe(adapterPath: adapter)
        let posterior = record.posteriorResults
        // A tree's folder names the method of a run with one row; rows of a multi-row run name their own.
        let folder = TreeMethodName.parse((directory as NSString).lastPathComponent)
        func methodName(_ r: MethodResult) -> String {
            posterior.count == 1 ? folder ?? TreeMethodName.of(r.method) : TreeMethodName.of(r.method)
        }
        let lines = try predictionLines(record, directory: directory)
        func compared(_ result: MethodResult, file: String, rows: [PredictionRow]) throws -> ComparedResult {
            let finite = rows.filter { $0.probs != nil }.sorted { $0.id < $1.id }
            guard finite.count == result.metrics.count else {
                throw LoadError(
                    .invalidValue, file: file, item: result.method.label,
                    "\(finite.count) predictions but \(recordPath) reports n = \(result.metrics.count): "
                        + "the predictions file does not belong to this run record")
            }
            let p = try Predictions(ragged: finite.map { $0.probs! }, labels: finite.map(\.label))
            let binning = try Binning(count: result.metrics.bins)
            let again = MetricReport(p, binning: binning)
            guard abs(again.accuracy - result.metrics.accuracy) < 1e-9, abs(again.nll - result.metrics.nll) < 1e-9,
                abs(again.ece - result.metrics.ece) < 1e-9
            else {
                throw LoadError(
                    .invalidValue, file: file, item: result.method.label,
                    String(
                        format: "recomputed ACC %.6f NLL %.6f but %@ reports ACC %.6f NLL %.6f: the predictions "
                            + "file does not belong to this run record", again.accuracy, again.nll, recordPath,
                        result.metrics.accuracy, result.metrics.nll))
            }
            return ComparedResult(
                result: result, method: methodName(result), predictions: finite, predictionsFile: file)
        }
        var results: [ComparedResult] = []
        var reference: ComparedResult? = nil
        if ComparedRun.isSweep(record) {
            // A sweep: one file per σ beside the named one.
            for r in posterior {
                guard let sigma = r.method.sigma else { continue }
                let file = try sweepFile(lines.file, directory: directory, sigma: sigma, record: recordPath)
                results.append(try compared(r, file: file, rows: try read(file)))
            }
        } else {
            for r in posterior {
                let rows = lines.rows.filter { $0.method == nil || $0.method == r.method.label }
                results.append(try compared(r, file: lines.file, rows: rows))
            }
        }
        if let map = record.results.first(where: { $0.method.label == Method.mapLabel }), record.results.count > 1 {
            let rows = lines.rows.filter { $0.method == Method.mapLabel }
            if !rows.isEmpty { reference = try compared(map, file: lines.file, rows: rows) }
        }
        return ComparedRun(
            recordPath: recordPath, record: record,
            model: CheckpointTree.modelName(adapter: adapter, modelPath: c["model"]), task: c["task"] ?? "",
            split: c["split"] ?? "", training: described.training, seed: described.seed, checkpoint: adapter,
            reference: reference, results: results)
    }

    /// Where the run's predictions file is: predictions.jsonl beside the record, the file its configuration
    /// names (relative paths are the run's own working directory's), or that file's name beside the record
    /// (a moved tree).
    static func predictionCandidates(_ record: RunRecord, directory: String) -> [String] {
        var out = [(directory as NSString).appendingPathComponent("predictions.jsonl")]
        if let named = record.configuration["predictions"] {
            out += [named, (directory as NSString).appendingPathComponent((named as NSString).lastPathComponent)]
        }
        return out
    }

    static func predictionLines(_ record: RunRecord, directory: String) throws -> (file: String, rows: [PredictionRow])
    {
        let candidates = predictionCandidates(record, directory: directory)
        for file in candidates where FileManager.default.fileExists(atPath: file) {
            return (file, try read(file))
        }
        // A sweep writes only per-σ files.
        if ComparedRun.isSweep(record), let named = record.configuration["predictions"] { return (named, []) }
        throw LoadError(
            .missingKey, file: directory, item: "predictions.jsonl",
            "the run has no predictions file (run it with --predictions); the report needs per-example results")
    }

    static func sweepFile(_ named: String, directory: String, sigma: Double, record: String) throws -> String {
        let candidates = [
            SweepFiles.path(named, sigma: sigma),
            (directory as NSString).appendingPathComponent(
                (SweepFiles.path(named, sigma: sigma) as NSString).lastPathComponent),
        ]
        guard let file = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw LoadError(
                .missingKey, file: record, item: String(format: "σ=%.6g", sigma),
                "the sweep's predictions for this σ are missing (looked for \(candidates.joined(separator: ", ")))")
        }
        return file
    }

    static func read(_ file: String) throws -> [PredictionRow] {
        let data = try Zstd.readMaybeCompressed(path: file)
        var out: [PredictionRow] = []
        for (n, line) in data.split(separator: 0x0A).enumerated() where !line.isEmpty {
            do { out.append(try JSONDecoder().decode(PredictionRow.self, from: Data(line))) } catch {
                throw LoadError(.malformedRow, file: file, item: "line \(n + 1)", "not a prediction record")
            }
        }
        return out
    }
}

/// Method names as `--methods` spells them, read from a tree's folder or derived from a record.
public enum TreeMethodName {
    public static let laplaceStructures: Set<String> = ["kron", "diag", "full"]
    public static let laplaceLinks: Set<String> = ["probit", "mc", "bridge", "bridge-norm"]

    public static func parse(_ folder: String) -> String? {
        if ["map", "blob", "tfb", "temperature"].contains(folder) { return folder }
        let parts = folder.split(separator: "-", maxSplits: 2).map(String.init)
        return parts.count == 3 && parts[0] == "laplace" && laplaceStructures.contains(parts[1])
            && laplaceLinks.contains(parts[2]) ? folder : nil
    }

    public static func of(_ m: Method) -> String {
        switch m.kind {
        case .base: return "base"
        case .lora, .loraXS, .blobMean: return "map"
        case .blob: return "blob"
        case .tfb: return "tfb"
        case .temperature: return "temperature"
        case .laplace: return "laplace-\(m.laplace?.hessian ?? "")-\(m.laplace?.link ?? "")"
        }
    }
}
