import ArgumentParser
import Backends
import Foundation
import Loaders
import Posthoc
import Records
import Runtime

#if canImport(Glibc)
import Glibc
#endif

struct LaplaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "laplace",
        abstract: "Fit Laplace posteriors over a LoRA adapter's parameters and evaluate their predictives.",
        discussion: """
            One curvature pass over the fit examples (--fit-split, each example's backward passes from the \
            columns of the loss Hessian's square root: the exact GGN, laplace-torch's CurvlinopsGGN) fits \
            every --hessian structure: kron (KFAC per lora_A and lora_B, token positions expanded as \
            curvlinops does, each example normalised by its own length), diag (the exact GGN diagonal) or \
            full (the dense GGN, up to 20,000 parameters). The prior precision maximises the Laplace \
            marginal likelihood exactly (--prior marglik), follows laplace-torch's Adam schedule \
            (--upstream), or is fixed (--prior fixed --prior-precision X). The test split is predicted by \
            the linearised (GLM) predictive with every --link, from one pass of Jacobians: one table row per \
            structure and link, after the MAP row.
            """)

    @Argument(help: "The MAP (or MLE) PEFT adapter directory.")
    var adapter: String

    @OptionGroup var options: ModelTaskOptions
    @OptionGroup var outputs: RunOutputOptions

    @Option(help: "Hessian structures, comma-separated: kron, diag, full.") var hessian = "kron"
    @Option(help: "ggn (exact GGN), ef (empirical Fisher) or mc (Monte Carlo Fisher).") var curvature = "ggn"
    @Option(
        help: ArgumentHelp(
            "Parameters the posterior is over: all (every adapter tensor), head (the layers an encoder adapter "
                + "saves whole: last-layer Laplace) or cores (LoRA-XS R matrices)."))
    var subset = "all"
    @Option(help: "Split the posterior is fitted on.") var fitSplit = "train"
    @Option(help: "Fit on the first N examples of the fit split (file order).") var fitLimit: Int?
    @Option(help: "Fit on a seeded random subset of --fit-limit examples instead.") var fitShuffle: UInt64?
    @Option(help: "marglik (maximise the marginal likelihood) or fixed (--prior-precision).") var prior = "marglik"
    @Option(help: "The prior precision for --prior fixed.") var priorPrecision: Double?
    @Flag(help: "laplace-torch's prior optimisation (Adam on log δ from 1, lr 0.1, 100 steps) for marglik.")
    var upstream = false
    @Option(help: "GLM links, comma-separated: probit, mc, bridge, bridge-norm.") var link = "probit"
    @Option(help: "Logit draws per example for --link mc.") var samples = 10_000
    @Option(help: "Seed of the mc link's draws and of --curvature mc's labels.") var seed: UInt64 = 0
    @Option(help: "Kronecker factors wider than this are refused.") var maxFactorDim = 4096

    var structures: [HessianStructure] {
        hessian.split(separator: ",").compactMap { HessianStructure(rawValue: String($0)) }
    }
    var links: [GLMLink] { link.split(separator: ",").compactMap { GLMLink(rawValue: String($0)) } }

    func validate() throws {
        let asked = hessian.split(separator: ",")
        guard !asked.isEmpty, structures.count == asked.count, Set(structures).count == structures.count else {
            throw ValidationError("--hessian takes distinct values of kron, diag, full, separated by commas")
        }
        let askedLinks = link.split(separator: ",")
        guard !askedLinks.isEmpty, links.count == askedLinks.count, Set(links).count == links.count else {
            throw ValidationError(
                "--link takes distinct values of probit, mc, bridge, bridge-norm, separated by commas")
        }
        guard CurvatureKind(rawValue: curvature) != nil else { throw ValidationError("--curvature is ggn, ef or mc") }
        guard LaplaceLayout.Subset(rawValue: subset) != nil else {
            throw ValidationError("--subset is all (every adapter tensor), head (the saved head) or cores (LoRA-XS)")
        }
        guard Split(rawValue: fitSplit) != nil else { throw ValidationError("unknown --fit-split '\(fitSplit)'") }
        if let fitLimit, fitLimit <= 0 { throw ValidationError("--fit-limit must be positive") }
        if fitShuffle != nil && fitLimit == nil { throw ValidationError("--fit-shuffle needs --fit-limit") }
        switch prior {
        case "marglik":
            if priorPrecision != nil { throw ValidationError("--prior-precision goes with --prior fixed") }
        case "fixed":
            guard let p = priorPrecision, p > 0, p.isFinite else {
                throw ValidationError("--prior fixed needs --prior-precision X with X > 0")
            }
            if upstream { throw ValidationError("--upstream is a way to optimise the prior; it has no use with fixed") }
        default: throw ValidationError("--prior is marglik or fixed")
        }
        guard samples > 0 else { throw ValidationError("--samples must be positive") }
        guard maxFactorDim > 0 else { throw ValidationError("--max-factor-dim must be positive") }
        guard !outputs.resume else {
            throw ValidationError("--resume is not supported by laplace (the fit is not resumable); rerun it")
        }
    }

    var priorChoice: LaplaceProcedure.PriorChoice {
        prior == "fixed" ? .fixed(priorPrecision!) : upstream ? .upstream : .marglik
    }

    func run() throws {
        let started = Date()
        try outputs.prepare()
        let task = options.taskName
        _ = try task.files(for: options.splitName)
        _ = try task.files(for: Split(rawValue: fitSplit)!)
        let subject = try LaplaceSubject.load(adapter: adapter, options: options)
        let (modelPath, backend, parameters) = (subject.modelPath, subject.backend, subject.parameters)
        let layout = try LaplaceLayout(
            parameters: parameters, subset: LaplaceLayout.Subset(rawValue: subset)!, name: adapter)
        var timings = RunRecord.Timings()
        timings.loadSeconds = Date().timeIntervalSince(started)
        var fitSet = try DatasetLoader.load(
            task: task, split: Split(rawValue: fitSplit)!, dataDirectory: subject.dataDirectory)
        if let fitShuffle { fitSet = fitSet.shuffled(seed: fitShuffle) }
        if let fitLimit { fitSet = fitSet.select(first: fitLimit) }
        var test = try DatasetLoader.load(task: task, split: options.splitName, dataDirectory: subject.dataDirectory)
        if let limit = options.limit { test = test.select(first: limit) }
        let fit = try subject.objective(fitSet), testing = try subject.objective(test)
        guard fit.objective.exampleCount > 0 else {
            throw UsageError(file: fitSet.files.first ?? fitSplit, item: fitSplit, "the fit split has no examples")
        }
        guard testing.objective.exampleCount > 0 else {
            throw UsageError(
                file: test.files.first ?? options.split, item: options.split, "the test split has no examples")
        }
        timings.prepareSeconds = Date().timeIntervalSince(started) - timings.loadSeconds
        note(
            "Laplace over \(layout.parameterCount) adapter parameters (\(subset): \(layout.blocks.count) tensors): "
                + "\(hessian) \(curvature) on \(fit.objective.exampleCount) \(fitSplit) examples, "
                + "\(testing.objective.exampleCount) \(options.split) examples")

        let procedure = LaplaceProcedure(
            settings: .init(
                fit: .init(
                    structures: structures, curvature: CurvatureKind(rawValue: curvature)!,
                    batchSize: options.batchSize, seed: seed, maxFactorDimension: maxFactorDim),
                prior: priorChoice, links: links, samples: samples, seed: seed, batchSize: options.batchSize))
        let log = try outputs.predictions.map { try PredictionLog(path: $0, truncate: true) }
        var reporters: [String: ProgressReporter] = [:]
        var collected: [LaplaceProcedure.Prediction] = []
        let outcome = try procedure.run(
            fit: fit.objective, test: testing.objective, parameters: parameters,
            layout: layout, backend: backend,
            progress: { phase, done, total in
                // A phase's reporter starts its clock when the phase starts (done = 0).
                if done == 0 { reporters[phase] = ProgressReporter(total: total, label: phase) }
                reporters[phase]?.update(done)
            },
            predictions: { batch in
                collected += batch
                try log?.append(batch.flatMap { p in self.records(p, id: testing.ids[p.index]) })
            })
        outcome.warnings.forEach(warn)
        for p in outcome.posteriors {
            note(
                String(
                    format: "%@: prior precision %.6g (%@), log marginal likelihood %.6f%@", p.structure.rawValue,
                    p.priorPrecision, priorChoice.name, p.logMarginalLikelihood,
                    p.clippedEigenvalues > 0 ? ", \(p.clippedEigenvalues) round-off eigenvalues below 0 clipped" : ""))
        }
        var rows = [
            try outputs.result(
                Method(.lora, label: "MAP"),
                collected.map { ExamplePrediction(id: testing.ids[$0.index], label: $0.label, probs: $0.map) },
                threads: options.threads)
        ]
        for row in outcome.rows {
            let posterior = outcome.posteriors.first { $0.structure == row.structure }!
            let details = LaplaceDetails(
                hessian: row.structure.rawValue, curvature: curvature, subset: subset, link: row.link.rawValue,
                priorPrecision: posterior.priorPrecision, priorMethod: priorChoice.name,
                logMarginalLikelihood: posterior.logMarginalLikelihood, parameterCount: outcome.parameterCount,
                fitExamples: outcome.fitExamples, clippedEigenvalues: posterior.clippedEigenvalues)
            let method = Method(
                .laplace, samples: row.link == .mc ? samples : nil, label: Self.label(row), laplace: details)
            rows.append(
                try outputs.result(
                    method,
                    collected.map {
                        ExamplePrediction(id: testing.ids[$0.index], label: $0.label, probs: $0.laplace[row])
                    }, threads: options.threads))
        }
        print(ResultTable.render(rows))
        timings.scoreSeconds = outcome.fitSeconds + outcome.predictSeconds
        timings.totalSeconds = Date().timeIntervalSince(started)
        note(
            String(
                format: "fit + prior %.1f s, predictive %.1f s, peak RSS %.0f MB", outcome.fitSeconds,
                outcome.predictSeconds, Self.peakResidentMegabytes()))
        if let out = outputs.output {
            let inputs =
                [(role: "model", path: modelPath), (role: "adapter", path: adapter)]
                + (fitSet.files + test.files).map { (role: "data", path: $0) }
            var c = options.configuration(model: modelPath).merging(outputs.configuration) { $1 }
            c.merge([
                "adapter": adapter, "hessian": hessian, "curvature": curvature, "subset": subset, "fit_split": fitSplit,
                "fit_examples": String(fit.objective.exampleCount), "prior": priorChoice.name, "link": link,
                "samples": String(samples), "seed": String(seed), "max_factor_dim": String(maxFactorDim),
                "fit_seconds": String(format: "%.3f", outcome.fitSeconds),
                "predict_seconds": String(format: "%.3f", outcome.predictSeconds),
                "peak_rss_mb": String(format: "%.1f", Self.peakResidentMegabytes()),
            ]) { $1 }
            if let fitLimit { c["fit_limit"] = String(fitLimit) }
            if let fitShuffle { c["fit_shuffle"] = String(fitShuffle) }
            try RunRecord(
                command: .laplace, bayevalVersion: Bayeval.version, configuration: c, results: rows,
                inputs: try RunRecord.hashInputs(inputs), timings: timings, warnings: outcome.warnings,
                platform: Bayeval.platform(options.device, threads: options.threads)
            ).write(to: out)
        }
    }

    static func label(_ row: LaplaceProcedure.Row) -> String {
        "Laplace \(row.structure.rawValue) \(row.link.rawValue)"
    }

    /// One prediction line per row (MAP first) for an example.
    func records(_ p: LaplaceProcedure.Prediction, id: String) -> [ExamplePrediction] {
        [ExamplePrediction(id: id, label: p.label, probs: p.map, method: "MAP")]
            + structures.flatMap { s in
                links.map { l in
                    let row = LaplaceProcedure.Row(structure: s, link: l)
                    return ExamplePrediction(id: id, label: p.label, probs: p.laplace[row], method: Self.label(row))
                }
            }
    }

    /// The process's peak resident memory so far (getrusage: kilobytes on Linux).
    static func peakResidentMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}
