import Foundation
import Loaders
import Metrics

/// One result row of a run with the per-example predictions it was computed from.
public struct ComparedResult: Sendable {
    public let result: MethodResult
    /// In the run's example order; nil rows (non-finite logits) are dropped, as the metrics dropped them.
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
    public let task: String
    public let training: String
    public let seed: Int?
    /// The adapter's path as the run recorded it (the checkpoint the run belongs to).
    public let checkpoint: String
    /// The method as `--methods` names it (map, tfb, laplace-kron-probit, temperature, …).
    public let method: String
    /// The run's own MAP reference row (tfb, laplace, calibrate print one), for exact pairing.
    public let reference: ComparedResult?
    /// The rows the run was made for (`RunRecord.posteriorResults`), each with its predictions; for a σ
    /// sweep, one per σ.
    public let results: [ComparedResult]

    /// A σ sweep: tfb with several TFB rows and no search.
    public var isSweep: Bool { record.command == .tfb && record.tfbSearch == nil && results.count > 1 }
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
        return out
    }

    /// Reads a record and its predictions, checking that they agree: the same rows, the same number of
    /// examples and the same metrics recomputed (to 1e-9), else an error naming both files.
    public static func load(_ recordPath: String) throws -> ComparedRun? {
        let record = try RunRecord.read(from: recordPath)
        guard record.command != .train else { return nil }
        let directory = (recordPath as NSString).deletingLastPathComponent
        let c = record.configuration
        let adapter = c["adapter"] ?? ""
        let described = CheckpointTree.describe(adapterPath: adapter, recordDirectory: directory)
        let parent = (directory as NSString).lastPathComponent
        let method = TreeMethodName.parse(parent) ?? TreeMethodName.of(record)
        let lines = try predictionLines(record, directory: directory)
        func compared(_ result: MethodResult, file: String, rows: [PredictionRow]) throws -> ComparedResult {
            let finite = rows.filter { $0.probs != nil }
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
            return ComparedResult(result: result, predictions: finite, predictionsFile: file)
        }
        var results: [ComparedResult] = []
        var reference: ComparedResult? = nil
        let posterior = record.posteriorResults
        if record.command == .tfb, posterior.count > 1 {
            // A sweep: one file per σ beside the named one.
            for r in posterior {
                guard let sigma = r.method.sigma, let file = sweepFile(lines.file, sigma: sigma) else { continue }
                let rows = try read(file)
                results.append(try compared(r, file: file, rows: rows))
            }
        } else {
            for r in posterior {
                let rows = lines.rows.filter { $0.method == nil || $0.method == r.method.label }
                results.append(try compared(r, file: lines.file, rows: rows))
            }
        }
        if let map = record.results.first(where: { $0.method.label == "MAP" }), record.results.count > 1 {
            let rows = lines.rows.filter { $0.method == "MAP" }
            if !rows.isEmpty { reference = try compared(map, file: lines.file, rows: rows) }
        }
        return ComparedRun(
            recordPath: recordPath, record: record, task: c["task"] ?? "", training: described.training,
            seed: described.seed, checkpoint: adapter, method: method, reference: reference, results: results)
    }

    /// The predictions file beside the record (predictions.jsonl), else the one its configuration names.
    static func predictionLines(_ record: RunRecord, directory: String) throws -> (file: String, rows: [PredictionRow]) {
        let beside = (directory as NSString).appendingPathComponent("predictions.jsonl")
        let candidates = [beside] + (record.configuration["predictions"].map { [$0] } ?? [])
        for file in candidates where FileManager.default.fileExists(atPath: file) {
            return (file, try read(file))
        }
        // A sweep writes only per-σ files.
        if let named = record.configuration["predictions"] { return (named, []) }
        throw LoadError(
            .missingKey, file: directory, item: "predictions.jsonl",
            "the run has no predictions file (run it with --predictions); the report needs per-example results")
    }

    static func sweepFile(_ named: String, sigma: Double) -> String? {
        let ns = named as NSString
        let ext = ns.pathExtension.isEmpty ? "" : "." + ns.pathExtension
        let file = ns.deletingPathExtension + ".sigma-" + String(format: "%.6g", sigma) + ext
        return FileManager.default.fileExists(atPath: file) ? file : nil
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
    public static func parse(_ folder: String) -> String? {
        if ["map", "blob", "tfb", "temperature"].contains(folder) { return folder }
        let parts = folder.split(separator: "-", maxSplits: 2)
        return parts.count == 3 && parts[0] == "laplace" ? folder : nil
    }

    public static func of(_ record: RunRecord) -> String {
        guard let m = record.posteriorResults.first?.method else { return "map" }
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
