import Foundation
import Loaders
import Runtime

/// A fitted Laplace posterior on disk, `laplace_posterior.safetensors` beside a copy of its adapter, so
/// that `bayeval evaluate DIR --predictive glm|nn` predicts without refitting. Tensors: per structure its
/// eigenbasis (`diag.diagonal`; `full.values`, `full.vectors`; per block i of θ `kron.i.output.values`,
/// `kron.i.output.vectors`, `kron.i.input.values`, `kron.i.input.vectors`; for a sketched factor or a
/// full GGN of lower rank than P `….reflectors` and `….tau` in place of `….vectors`),
/// eigenvalues in F64, bases in F32. Metadata: the layout (module, role, shape per block), the rows'
/// priors and marginal likelihoods, the fit's loss and count, an `lm-head` subset's vocabulary rows, and SHA-256 digests of the adapter, the base
/// model and the fit data; a posterior read against another adapter or model is refused.
public enum LaplacePosteriorFile {
    public static let fileName = "laplace_posterior.safetensors"
    static let format = "bayeval-laplace-posterior"

    /// What ties a posterior to its inputs.
    public struct Provenance: Sendable, Equatable {
        public var adapterDigest: String
        public var modelDigest: String
        public var fitDataDigest: String
        public var curvature: String
        /// The other settings that shaped the fit and its priors (prior method and structure, seeds, the
        /// grid's held-out data), as one canonical line: what `--resume` compares.
        public var settings: String
        public init(
            adapterDigest: String, modelDigest: String, fitDataDigest: String, curvature: String, settings: String = ""
        ) {
            self.adapterDigest = adapterDigest
            self.modelDigest = modelDigest
            self.fitDataDigest = fitDataDigest
            self.curvature = curvature
            self.settings = settings
        }
    }

    /// SHA-256 of a model: of its file (GGUF), or of the files a model directory is read from (config,
    /// weights, tokenizer), sorted by name, each file's digest hashed in turn; other files (a README) do
    /// not count.
    public static func digest(path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LoadError(.io, file: path, item: "", "no such file or directory")
        }
        guard isDirectory.boolValue else { return try SHA256.hexDigest(file: path) }
        let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted().filter { name in
            name.hasSuffix(".safetensors") || name.hasSuffix(".gguf") || name.hasSuffix(".bin")
                || ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "merges.txt", "vocab.json"]
                    .contains(name)
        }
        var parts: [UInt8] = []
        for name in names {
            let file = (path as NSString).appendingPathComponent(name)
            parts += Array((name + ":" + (try SHA256.hexDigest(file: file)) + "\n").utf8)
        }
        return SHA256.hexDigest(parts)
    }

    /// SHA-256 of an adapter: of its config and weights, which the saved copy holds byte for byte.
    public static func adapterDigest(directory: String) throws -> String {
        try digest(
            files: ["adapter_config.json", "adapter_model.safetensors"].map {
                (directory as NSString).appendingPathComponent($0)
            })
    }

    /// SHA-256 over several files' digests, in the order given (a split's data files), and, when given,
    /// the ids of the examples taken from them in order (a limit or a shuffle changes it).
    public static func digest(files: [String], ids: [String] = []) throws -> String {
        var parts: [UInt8] = []
        for file in files { parts += Array((try SHA256.hexDigest(file: file) + "\n").utf8) }
        for id in ids { parts += Array((id + "\n").utf8) }
        return SHA256.hexDigest(parts)
    }

    /// Writes `fitted` into `directory` (created), with the adapter's files copied beside it and the
    /// path of the model it was fitted on (absolute: the copied adapter_config's base path may be relative
    /// to the original adapter's directory).
    public static func write(
        _ fitted: LaplaceProcedure.Fitted, provenance: Provenance, adapterDirectory: String, modelPath: String,
        to directory: String
    ) throws {
        let fm = FileManager.default
        let resolved = { (path: String) in URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        }
        guard resolved(directory) != resolved(adapterDirectory) else {
            throw WriteError(
                file: directory, item: "--save-posterior",
                "is the adapter's own directory; save the posterior into a directory of its own")
        }
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for name in ["adapter_config.json", "adapter_model.safetensors"] {
                let from = (adapterDirectory as NSString).appendingPathComponent(name)
                let to = (directory as NSString).appendingPathComponent(name)
                if fm.fileExists(atPath: to) { try fm.removeItem(atPath: to) }
                try fm.copyItem(atPath: from, toPath: to)
            }
        } catch {
            throw WriteError(
                file: directory, item: "adapter", "cannot save the posterior's adapter: \(error.localizedDescription)")
        }
        let fit = fitted.fit
        var writer = SafeTensorsWriter()
        for s in fit.structures {
            switch s {
            case let d as DiagonalLaplace:
                try writer.add("diag.diagonal", doubles: d.diagonal)
            case let f as FullLaplace: try writer.add(f.eigen, name: "full")
            case let k as KroneckerLaplace:
                for (i, b) in k.blocks.enumerated() {
                    try writer.add(b.output, name: "kron.\(i).output")
                    try writer.add(b.input, name: "kron.\(i).input")
                }
            default: preconditionFailure("unknown structure \(s.structure)")
            }
        }
        let blocks = fit.layout.blocks.map {
            SavedBlock(module: $0.module, role: $0.role.rawValue, rows: $0.rows, columns: $0.columns)
        }
        let rows = fitted.rows.map { row in
            let p = fitted.posteriors[row]!
            return SavedRow(
                hessian: row.structure.rawValue, link: row.predictiveName, prior: p.prior.values,
                lml: p.logMarginalLikelihood, clipped: p.clippedEigenvalues)
        }
        writer.metadata = [
            "format": format, "version": "1", "subset": fit.layout.subset.rawValue,
            "structures": fit.structures.map(\.structure.rawValue).joined(separator: ","),
            "clipped": fit.structures.map { String($0.clippedEigenvalues) }.joined(separator: ","),
            "blocks": try encoded(blocks), "rows": try encoded(rows),
            "loss": String(fit.loss), "fit_examples": String(fit.count),
            "parameter_count": String(fit.layout.parameterCount),
            "adapter_sha256": provenance.adapterDigest, "model_sha256": provenance.modelDigest,
            "fit_data_sha256": provenance.fitDataDigest, "curvature": provenance.curvature,
            "fit_settings": provenance.settings,
            "model_path": URL(fileURLWithPath: modelPath).standardizedFileURL.path,
        ]
        if fit.layout.subset == .lmHead { writer.metadata["lm_head_rows"] = try encoded(fit.layout.answerRows) }
        try writer.write(to: (directory as NSString).appendingPathComponent(fileName))
    }

    /// The model path the posterior in `directory` was fitted on, as recorded; nil when the file or the
    /// entry is missing (its digest, not this path, is what ties a posterior to a model).
    public static func recordedModelPath(directory: String) -> String? {
        let path = (directory as NSString).appendingPathComponent(fileName)
        return (try? SafeTensorsFile(path: path))?.metadata["model_path"]
    }

    /// Reads the posterior in `directory` over the adapter `parameters` (attached to the model it was fitted
    /// on), refusing one whose digests or layout differ. `expected.fitDataDigest` and `.curvature` are not
    /// checked: they are returned from the file.
    public static func read(
        directory: String, parameters: AdapterParameters, provenance expected: Provenance,
        backend: any ComputeBackend
    ) throws -> (fitted: LaplaceProcedure.Fitted, provenance: Provenance) {
        let path = (directory as NSString).appendingPathComponent(fileName)
        let file = try SafeTensorsFile(path: path)
        let m = file.metadata
        func meta(_ key: String) throws -> String {
            guard let v = m[key] else {
                throw LoadError(.invalidValue, file: path, item: key, "missing from the posterior's metadata")
            }
            return v
        }
        guard m["format"] == format, m["version"] == "1" else {
            throw LoadError(
                .unsupported, file: path, item: "format",
                "not a bayeval Laplace posterior (version 1): format \(m["format"] ?? "none"), "
                    + "version \(m["version"] ?? "none")"
            )
        }
        for (key, want, what) in [
            ("adapter_sha256", expected.adapterDigest, "adapter"), ("model_sha256", expected.modelDigest, "base model"),
        ] where try meta(key) != want {
            throw LoadError(
                .invalidValue, file: path, item: key,
                "the posterior was fitted for another \(what) (SHA-256 \(try meta(key).prefix(12))…, this one is "
                    + "\(want.prefix(12))…); refit it with bayeval laplace --save-posterior")
        }
        guard let subset = m["subset"].flatMap(LaplaceLayout.Subset.init(rawValue:)) else {
            throw LoadError(.invalidValue, file: path, item: "subset", "unknown subset \(m["subset"] ?? "none")")
        }
        let answerRows =
            subset == .lmHead ? try decoded([Int].self, try meta("lm_head_rows"), path, "lm_head_rows") : []
        let layout = try LaplaceLayout(parameters: parameters, subset: subset, name: directory, answerRows: answerRows)
        let want = layout.blocks.map { "\($0.module) \($0.role.rawValue) \($0.rows)×\($0.columns)" }
        let got = try decoded([SavedBlock].self, try meta("blocks"), path, "blocks").map {
            "\($0.module) \($0.role) \($0.rows)×\($0.columns)"
        }
        guard got == want else {
            let first =
                zip(got, want).first { $0 != $1 }.map { "\($0.0) vs \($0.1)" } ?? "\(got.count) vs \(want.count) blocks"
            throw LoadError(
                .invalidValue, file: path, item: "blocks",
                "the posterior's parameters do not match the adapter's (\(m["subset"] ?? "?") subset; \(first))")
        }
        func number<T: LosslessStringConvertible>(_ text: Substring, _ key: String) throws -> T {
            guard let value = T(String(text)) else {
                throw LoadError(.invalidValue, file: path, item: key, "'\(text)' is not a number")
            }
            return value
        }
        let clipped: [Int] = try meta("clipped").split(separator: ",").map { try number($0, "clipped") }
        var structures: [any LaplaceStructure] = []
        let names = try meta("structures").split(separator: ",")
        guard clipped.count == names.count else {
            throw LoadError(.invalidValue, file: path, item: "clipped", "one count per structure expected")
        }
        for (name, c) in zip(names, clipped) {
            guard let s = HessianStructure(rawValue: String(name)) else {
                throw LoadError(.invalidValue, file: path, item: "structures", "unknown structure \(name)")
            }
            switch s {
            case .diag:
                structures.append(
                    DiagonalLaplace(
                        diagonal: try file.doubles("diag.diagonal", count: layout.parameterCount), layout: layout))
            case .full:
                let P = layout.parameterCount
                // Posteriors saved before the low-rank basis named the dense one `full.eigenvalues`/`.eigenvectors`.
                let eigen =
                    file.info("full.eigenvectors") == nil
                    ? try file.factor("full", dimension: P)
                    : FactorEigen(
                        values: try file.doubles("full.eigenvalues", count: P),
                        basis: .dense(try file.floats("full.eigenvectors", count: P * P)))
                structures.append(FullLaplace(eigen: eigen, clipped: c, backend: backend))
            case .kron:
                let kb = try layout.blocks.enumerated().map { i, block in
                    KroneckerLaplace.Block(
                        block: block, output: try file.factor("kron.\(i).output", dimension: block.rows),
                        input: try file.factor("kron.\(i).input", dimension: block.columns))
                }
                structures.append(KroneckerLaplace(blocks: kb, clipped: c, backend: backend))
            }
        }
        // A fit clips round-off below zero, so a saved curvature eigenvalue is never negative; one that is
        // would make λ + δ ≤ 0 (NaN samples, negative variances) for some prior.
        for s in structures where !s.spectrum.allSatisfy({ $0.isFinite && $0 >= 0 }) {
            throw LoadError(
                .invalidValue, file: path, item: s.structure.rawValue, "eigenvalues are negative, NaN or infinite")
        }
        var rows: [LaplaceProcedure.Row] = [], posteriors: [LaplaceProcedure.Row: LaplaceProcedure.Posterior] = [:]
        for r in try decoded([SavedRow].self, try meta("rows"), path, "rows") {
            let link = GLMLink(rawValue: r.link)
            guard let h = HessianStructure(rawValue: r.hessian), link != nil || r.link == "nn",
                r.prior.allSatisfy({ $0 > 0 && $0.isFinite }), structures.contains(where: { $0.structure == h }),
                r.prior.count == 1 || (h != .full && r.prior.count == layout.blocks.count)
            else {
                throw LoadError(
                    .invalidValue, file: path, item: "rows",
                    "a row is malformed (its structure, link, or a prior that is not one positive value or one "
                        + "per tensor of a kron or diag structure): \(r)")
            }
            let prior = r.prior
            let row = LaplaceProcedure.Row(structure: h, link: link)
            guard posteriors[row] == nil else {
                throw LoadError(
                    .invalidValue, file: path, item: "rows", "the row \(h.rawValue) \(r.link) is saved twice")
            }
            rows.append(row)
            posteriors[row] = .init(
                structure: h, prior: PriorPrecision(prior), logMarginalLikelihood: r.lml, clippedEigenvalues: r.clipped)
        }
        let fit = LaplaceFit(
            layout: layout, structures: structures, loss: try number(Substring(try meta("loss")), "loss"),
            count: try number(Substring(try meta("fit_examples")), "fit_examples"))
        var provenance = expected
        provenance.curvature = try meta("curvature")
        provenance.fitDataDigest = try meta("fit_data_sha256")
        provenance.settings = try meta("fit_settings")
        return (
            LaplaceProcedure.Fitted(fit: fit, rows: rows, posteriors: posteriors, seconds: 0, warnings: []), provenance
        )
    }
}

extension LaplacePosteriorFile {
    struct SavedBlock: Codable {
        let module: String
        let role: String
        let rows: Int
        let columns: Int
    }
    struct SavedRow: Codable {
        let hessian: String
        let link: String
        let prior: [Double]
        let lml: Double
        let clipped: Int
    }

    static func encoded(_ value: some Encodable) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    static func decoded<T: Decodable>(_ type: T.Type, _ text: String, _ path: String, _ key: String) throws -> T {
        do { return try JSONDecoder().decode(type, from: Data(text.utf8)) } catch {
            throw LoadError(.invalidJSON, file: path, item: key, "the posterior's metadata does not parse: \(error)")
        }
    }
}

extension SafeTensorsWriter {
    mutating func add(_ name: String, doubles: [Double]) throws {
        let bytes = doubles.withUnsafeBytes { Data($0) }
        try add(name, dtype: .f64, shape: [doubles.count], bytes: bytes)
    }

    /// A Kronecker factor's eigendecomposition: `NAME.values`, and `NAME.vectors` (n × n) or, for a sketched
    /// factor, `NAME.reflectors` (n × r) and `NAME.tau` (r).
    mutating func add(_ e: FactorEigen, name: String) throws {
        try add("\(name).values", doubles: e.values)
        let n = e.dimension
        switch e.basis {
        case .dense(let v): try add("\(name).vectors", floats: v, shape: [n, n])
        case .reflectors(let a, let tau):
            try add("\(name).reflectors", floats: a, shape: [n, tau.count])
            try add("\(name).tau", floats: tau, shape: [tau.count])
        }
    }
}

extension SafeTensorsFile {
    /// Refuses a tensor that is not exactly `count` values of `dtype`.
    private func check(_ name: String, _ dtype: DType, count: Int) throws {
        let info = try require(name)
        guard info.dtype == dtype, info.shape.reduce(1, *) == count else {
            throw LoadError(
                .shapeMismatch, file: path, item: name,
                "expected \(count) \(dtype.rawValue) values, found \(info.dtype) \(info.shape)")
        }
    }

    /// An F64 tensor of exactly `count` values.
    func doubles(_ name: String, count: Int) throws -> [Double] {
        try check(name, .f64, count: count)
        let raw = try view(name)
        return (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self) }
    }

    /// A Kronecker factor's eigendecomposition as `SafeTensorsWriter.add(_:name:)` writes it.
    func factor(_ name: String, dimension n: Int) throws -> FactorEigen {
        let values = try doubles("\(name).values", count: n)
        guard let tauInfo = info("\(name).tau") else {
            return FactorEigen(values: values, basis: .dense(try floats("\(name).vectors", count: n * n)))
        }
        let r = tauInfo.shape.first ?? 0
        guard tauInfo.shape.count == 1, r > 0, r < n else {
            throw LoadError(
                .shapeMismatch, file: path, item: "\(name).tau",
                "expected fewer than \(n) values, found \(tauInfo.shape)")
        }
        return FactorEigen(
            values: values,
            basis: .reflectors(try floats("\(name).reflectors", count: n * r), tau: try floats("\(name).tau", count: r))
        )
    }

    /// An F32 tensor of exactly `count` values.
    func floats(_ name: String, count: Int) throws -> [Float] {
        try check(name, .f32, count: count)
        return try floats(name)
    }
}
