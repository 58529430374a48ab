import Foundation
import Loaders
import Metrics

/// `run.json`, the record every command writes: what was run (command, method, configuration), on
/// exactly which inputs (SHA-256 of every file), on what platform, how long it took, and what it
/// measured (metrics with reliability bars and bootstrap intervals, one result per method). Versioned and
/// Codable both ways, so the compare report and Slurm merges read what the commands wrote.
public struct RunRecord: Codable, Sendable, Equatable {
    /// Bumped whenever a field changes meaning or goes away; readers refuse versions they do not know.
    public static let currentSchemaVersion = 1

    public enum Command: String, Codable, Sendable { case evaluate, tfb, train, laplace, calibrate }

    public struct InputFile: Codable, Sendable, Equatable {
        public var role: String
        public var path: String
        public var bytes: Int
        public var sha256: String
    }

    public struct Timings: Codable, Sendable, Equatable {
        public var loadSeconds = 0.0
        public var prepareSeconds = 0.0
        public var scoreSeconds = 0.0
        public var totalSeconds = 0.0
        public init() {}
    }

    public struct Throughput: Codable, Sendable, Equatable {
        public var promptTokens: Int
        public var computedTokens: Int
        public var promptTokensPerSecond: Double
        public init(promptTokens: Int, computedTokens: Int, seconds: Double) {
            self.promptTokens = promptTokens
            self.computedTokens = computedTokens
            promptTokensPerSecond = seconds > 0 ? Double(promptTokens) / seconds : 0
        }
    }

    public var schemaVersion = RunRecord.currentSchemaVersion
    public var command: Command
    public var bayevalVersion: String
    public var createdAt: String
    /// The settings that shape the numbers (task, split, bins, seeds, batch size, …), as given.
    public var configuration: [String: String]
    /// One per method compared (evaluate: one; tfb: MAP and TFB, or one per σ of a sweep; train: before
    /// and after).
    public var results: [MethodResult]
    /// The σ search of `tfb` (nil for a sweep and for other commands).
    public var tfbSearch: TFBSearchRecord?
    public var inputs: [InputFile]
    public var timings: Timings
    public var throughput: Throughput?
    /// Examples carried over from an interrupted run (--resume).
    public var resumedExamples: Int
    public var warnings: [String]
    public var platform: [String: String]

    public init(
        command: Command, bayevalVersion: String, configuration: [String: String], results: [MethodResult],
        tfbSearch: TFBSearchRecord? = nil, inputs: [InputFile], timings: Timings, throughput: Throughput? = nil,
        resumedExamples: Int = 0, warnings: [String] = [], platform: [String: String]
    ) {
        self.command = command
        self.bayevalVersion = bayevalVersion
        createdAt = ISO8601DateFormatter().string(from: Date())
        self.configuration = configuration
        self.results = results
        self.tfbSearch = tfbSearch
        self.inputs = inputs
        self.timings = timings
        self.throughput = throughput
        self.resumedExamples = resumedExamples
        self.warnings = warnings
        self.platform = platform
    }
}

/// How a result's predictions were made: the method as an enum, with its parameters.
public struct Method: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// The base model, no adapter.
        case base
        /// A deterministic adapter (LoRA, MAP or MLE): `lora`, or `loraXS` for LoRA-XS cores.
        case lora, loraXS = "lora-xs"
        /// A BLoB checkpoint: its mean, or its Monte Carlo predictive.
        case blobMean = "blob-mean", blob
        /// A Training-Free Bayesianization posterior at `sigma`.
        case tfb
        /// A Laplace posterior.
        case laplace
        /// The deterministic adapter with its log-probabilities divided by a fitted `temperature`.
        case temperature
    }

    public var kind: Kind
    /// Monte Carlo weight samples per prediction; nil for a deterministic prediction.
    public var samples: Int?
    public var sigma: Double?
    /// The name in tables ("MAP", "TFB σ=0.003").
    public var label: String
    /// The label of the deterministic adapter's reference row every posterior run records beside its own
    /// rows (and its rows' name in the predictions file): how readers find that row.
    public static let mapLabel = "MAP"
    /// A Laplace posterior's structure, prior and link (nil for other methods).
    public var laplace: LaplaceDetails?
    /// Temperature scaling's T (nil for other methods).
    public var temperature: Double?

    public init(
        _ kind: Kind, samples: Int? = nil, sigma: Double? = nil, label: String, laplace: LaplaceDetails? = nil,
        temperature: Double? = nil
    ) {
        self.kind = kind
        self.temperature = temperature
        self.samples = samples
        self.sigma = sigma
        self.label = label
        self.laplace = laplace
    }
}

/// What a Laplace row was: the posterior's Hessian structure, curvature and parameter subset, the prior
/// precision and how it was chosen, the marginal likelihood there, and the predictive's link.
public struct LaplaceDetails: Codable, Sendable, Equatable {
    public var hessian: String
    public var curvature: String
    public var subset: String
    public var link: String
    /// The prior precision δ; for a layerwise prior the geometric mean of `priorPrecisions`.
    public var priorPrecision: Double
    /// marglik (maximised exactly), upstream (laplace-torch's Adam schedule), grid (validation NLL over
    /// laplace-torch's grid) or fixed.
    public var priorMethod: String
    /// scalar or layerwise (one δ per tensor of θ, in `priorPrecisions`); absent in records before it.
    public var priorStructure: String?
    public var priorPrecisions: [Double]?
    /// glm (linearised, with `link`) or nn (weights sampled); absent means glm.
    public var predictive: String?
    public var logMarginalLikelihood: Double
    /// [δ, log marginal likelihood] pairs over laplace-torch's prior grid (scalar δ), for the report's curve.
    public var marginalLikelihoodCurve: [[Double]]?
    public var parameterCount: Int
    public var fitExamples: Int
    /// Negative curvature eigenvalues (round-off) clipped to zero.
    public var clippedEigenvalues: Int

    public init(
        hessian: String, curvature: String, subset: String, link: String, priorPrecision: Double,
        priorMethod: String, logMarginalLikelihood: Double, parameterCount: Int, fitExamples: Int,
        clippedEigenvalues: Int, priorStructure: String? = nil, priorPrecisions: [Double]? = nil,
        predictive: String? = nil
    ) {
        self.priorStructure = priorStructure
        self.priorPrecisions = priorPrecisions
        self.predictive = predictive
        self.hessian = hessian
        self.curvature = curvature
        self.subset = subset
        self.link = link
        self.priorPrecision = priorPrecision
        self.priorMethod = priorMethod
        self.logMarginalLikelihood = logMarginalLikelihood
        self.parameterCount = parameterCount
        self.fitExamples = fitExamples
        self.clippedEigenvalues = clippedEigenvalues
    }
}

public struct MethodResult: Codable, Sendable, Equatable {
    public var method: Method
    public var metrics: MetricReport
    /// 95 % bootstrap intervals (empty without --bootstrap).
    public var intervals: [BootstrapInterval]

    public init(method: Method, metrics: MetricReport, intervals: [BootstrapInterval] = []) {
        self.method = method
        self.metrics = metrics
        self.intervals = intervals
    }
}

/// tfb's σ search: the criterion, its tolerance and rule, each bisection step and the σ chosen.
public struct TFBSearchRecord: Codable, Sendable, Equatable {
    public struct Step: Codable, Sendable, Equatable {
        public var sigma: Double
        public var value: Double
        public var accepted: Bool
        public init(sigma: Double, value: Double, accepted: Bool) {
            self.sigma = sigma; self.value = value; self.accepted = accepted
        }
    }

    public var criterion: String
    public var tolerance: Double
    public var rule: String
    public var anchors: Int
    public var steps: [Step]
    public var sigma: Double

    public init(criterion: String, tolerance: Double, rule: String, anchors: Int, steps: [Step], sigma: Double) {
        self.criterion = criterion; self.tolerance = tolerance; self.rule = rule
        self.anchors = anchors; self.steps = steps; self.sigma = sigma
    }
}

extension RunRecord {
    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    /// Written to a temporary name and renamed over the old record (`AtomicFile`), so a reader, or a job
    /// killed midway, never sees half a record.
    public func write(to path: String) throws {
        let data: Data
        do { data = try Self.encoder.encode(self) } catch {
            throw WriteError(file: path, item: "", "cannot encode the run record: \(error)")
        }
        try AtomicFile.write(data, to: path)
    }

    /// Reads a record, refusing a schema version this build does not know.
    public static func read(from path: String) throws -> RunRecord {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw LoadError(.io, file: path, item: "", "cannot read the run record: \(error.localizedDescription)")
        }
        struct Version: Decodable { let schemaVersion: Int? }
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let version = (try? d.decode(Version.self, from: data))?.schemaVersion else {
            throw LoadError(
                .invalidValue, file: path, item: "schemaVersion", "not a bayeval run record (no schemaVersion)")
        }
        guard version == currentSchemaVersion else {
            throw LoadError(
                .unsupported, file: path, item: "schemaVersion",
                "run record schema \(version); this bayeval reads schema \(currentSchemaVersion)")
        }
        do { return try d.decode(RunRecord.self, from: data) } catch let e as DecodingError {
            throw LoadError(.invalidValue, file: path, item: e.codingPathDescription, "malformed run record: \(e)")
        }
    }

    /// SHA-256 of each file, or of every regular file directly inside a directory; missing paths are skipped.
    public static func hashInputs(_ roles: [(role: String, path: String)]) throws -> [InputFile] {
        var out: [InputFile] = []
        for (role, path) in roles {
            for f in inputFiles(at: path) ?? [] {
                let size = (try? FileManager.default.attributesOfItem(atPath: f)[.size] as? Int) ?? 0
                out.append(InputFile(role: role, path: f, bytes: size, sha256: try SHA256.hexDigest(file: f)))
            }
        }
        return out
    }

    /// The files an input stands for: itself, or a folder's regular files directly inside it (sorted), as
    /// run.json records them and a job's input hash covers them; nil when nothing is at the path.
    public static func inputFiles(at path: String) -> [String]? {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
        guard isDirectory.boolValue else { return [path] }
        return ((try? fm.contentsOfDirectory(atPath: path)) ?? []).sorted().map {
            (path as NSString).appendingPathComponent($0)
        }
        .filter {
            var d: ObjCBool = false
            return fm.fileExists(atPath: $0, isDirectory: &d) && !d.boolValue
        }
    }
}

extension DecodingError {
    /// Where in the document decoding failed, e.g. `results.[2].ece`.
    public var codingPathDescription: String {
        let path: [CodingKey]
        switch self {
        case .keyNotFound(let k, let c): path = c.codingPath + [k]
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): path = c.codingPath
        @unknown default: path = []
        }
        return path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}

extension RunRecord {
    /// The rows a run was made for: its only row, or every row but the MAP reference that tfb, laplace
    /// and calibrate print beside their posterior.
    public var posteriorResults: [MethodResult] {
        results.count == 1 ? results : results.filter { $0.method.label != Method.mapLabel }
    }
}

extension Method {
    /// The method of evaluating `adapter` (nil: the base model) with `samples` Monte Carlo samples (0: its
    /// mean). A posterior bayeval saved says so in its metadata (`bayeval_posterior`).
    public static func evaluating(_ adapter: LoRAAdapter?, samples: Int) -> Method {
        guard let adapter else { return Method(.base, label: "base") }
        if adapter.metadata["bayeval_posterior"] == "tfb" {
            let sigma = adapter.metadata["tfb_sigma"].flatMap(Double.init)
            return samples > 0
                ? Method(.tfb, samples: samples, sigma: sigma, label: "TFB (N=\(samples))")
                : Method(.tfb, sigma: sigma, label: "TFB (mean)")
        }
        if samples > 0 { return Method(.blob, samples: samples, label: "BLoB (N=\(samples))") }
        switch adapter.kind {
        case .blob: return Method(.blobMean, label: "BLoB (mean)")
        case .loraXS: return Method(.loraXS, label: "LoRA-XS")
        case .lora: return Method(.lora, label: "LoRA")
        }
    }
}
