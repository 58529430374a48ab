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
            every --hessian structure over the --subset of the adapter (all its tensors; head: the layers an \
            encoder adapter saves whole; lm-head: the LoRA of lm_head, its B at the answer tokens' rows, as \
            laplace-lora's last_layer; cores: LoRA-XS R): kron (KFAC per tensor: lora_A, lora_B, core, a \
            head's weight and bias; token positions expanded as curvlinops does, each example normalised by \
            its own length; a factor wider than --max-factor-dim sketched in one pass to its top \
            --factor-rank eigenpairs), diag (the exact GGN diagonal) or full (the dense GGN, up to \
            \(FullLaplace.maximumParameters) parameters). \
            The prior precision, one value or one per tensor (--prior-structure layerwise), maximises the \
            Laplace marginal likelihood exactly (--prior marglik), follows laplace-torch's Adam schedule \
            (--upstream), has the lowest NLL on --prior-split over laplace-torch's grid (--prior grid), or is \
            fixed (--prior fixed --prior-precision X). The test split is predicted by the linearised (GLM) \
            predictive with every --link, from one pass of Jacobians, or by --predictive nn (weight samples): \
            one table row per structure and link, after the MAP row. Decoders and encoders alike. \
            --save-posterior DIR keeps the adapter and its posterior for `bayeval evaluate DIR --predictive`; \
            with it and --predictions, --resume reuses the saved fit and predicts only what is missing.
            """)

    @Argument(help: "The MAP (or MLE) PEFT adapter directory.")
    var adapter: String

    @OptionGroup var options: ModelTaskOptions
    @OptionGroup var outputs: RunOutputOptions

    @Option(
        name: .customLong("hessian"),
        help: "Hessian structures, comma-separated: kron, diag, full (default kron; full with --subset cores).")
    var hessianOption: String?
    /// --hessian, or its default: the dense GGN for a few thousand LoRA-XS core parameters, KFAC otherwise.
    var hessian: String { hessianOption ?? (subset == "cores" ? "full" : "kron") }
    @Option(help: "ggn (exact GGN), ef (empirical Fisher) or mc (Monte Carlo Fisher).") var curvature = "ggn"
    @Option(
        help: ArgumentHelp(
            "Parameters the posterior is over: all (every adapter tensor), head (the layers an encoder adapter "
                + "saves whole: last-layer Laplace), lm-head (lm_head's LoRA, B at the answer rows: laplace-lora's "
                + "last_layer) or cores (LoRA-XS R matrices)."))
    var subset = "all"
    @Option(help: "Split the posterior is fitted on.") var fitSplit = "train"
    @Option(help: "Task the posterior is fitted on (default: --task), for OOD tests: fit on obqa, test on arc-c.")
    var fitTask: String?
    @Option(help: "Fit on the first N examples of the fit split (file order).") var fitLimit: Int?
    @Option(help: "Fit on a seeded random subset of --fit-limit examples instead.") var fitShuffle: UInt64?
    @Option(
        help: ArgumentHelp(
            "marglik (maximise the marginal likelihood), grid (lowest NLL on --prior-split over laplace-torch's "
                + "grid, log10 δ from -4 to 4 in 100 points) or fixed (--prior-precision)."))
    var prior = "marglik"
    @Option(help: "The prior precision for --prior fixed.") var priorPrecision: Double?
    @Option(help: "scalar (one δ) or layerwise (one δ per adapter tensor; kron and diag).") var priorStructure =
        "scalar"
    @Option(help: "Held-out split of --prior grid.") var priorSplit = "validation"
    @Option(help: "Use the first N examples of --prior-split.") var priorLimit: Int?
    @Flag(help: "laplace-torch's prior optimisation (Adam on log δ from 1, lr 0.1, 100 steps) for marglik.")
    var upstream = false
    @Option(help: "glm (linearised, with --link) or nn (weight samples through the network).") var predictive = "glm"
    @Option(help: "GLM links, comma-separated: probit, mc, bridge, bridge-norm.") var link = "probit"
    @Option(help: "Logit draws per example for --link mc (default 10000); weight samples for nn (default 100).")
    var samples: Int?
    @Option(help: "Seed of the mc link's draws and of --curvature mc's labels.") var seed: UInt64 = 0
    @Option(
        help: ArgumentHelp(
            "Kronecker factors wider than this are sketched in one pass and kept as their top --factor-rank "
                + "eigenpairs, the rest of their trace spread evenly over the other directions."))
    var maxFactorDim = 4096
    @Option(help: "Eigenpairs kept of a factor wider than --max-factor-dim.") var factorRank = 256
    @Option(
        help: ArgumentHelp(
            "Save the adapter and its fitted posterior here (laplace_posterior.safetensors), for "
                + "bayeval evaluate DIR --predictive glm."))
    var savePosterior: String?

    var structures: [HessianStructure] {
        hessian.split(separator: ",").compactMap { HessianStructure(rawValue: String($0)) }
    }
    var links: [GLMLink] { GLMLink.list(link) ?? [] }

    func validate() throws {
        try options.requireTask()
        let asked = hessian.split(separator: ",")
        guard !asked.isEmpty, structures.count == asked.count, Set(structures).count == structures.count else {
            throw ValidationError("--hessian takes distinct values of kron, diag, full, separated by commas")
        }
        guard GLMLink.list(link) != nil else {
            throw ValidationError(
                "--link takes distinct values of probit, mc, bridge, bridge-norm, separated by commas")
        }
        guard CurvatureKind(rawValue: curvature) != nil else { throw ValidationError("--curvature is ggn, ef or mc") }
        guard LaplaceLayout.Subset(rawValue: subset) != nil else {
            throw ValidationError(
                "--subset is all (every adapter tensor), head (the saved head), lm-head (the LM head's LoRA at the "
                    + "answer rows) or cores (LoRA-XS)")
        }
        guard Split(rawValue: fitSplit) != nil else { throw ValidationError("unknown --fit-split '\(fitSplit)'") }
        if let fitTask, TaskName(rawValue: fitTask) == nil { throw ValidationError("unknown --fit-task '\(fitTask)'") }
        if let fitLimit, fitLimit <= 0 { throw ValidationError("--fit-limit must be positive") }
        if fitShuffle != nil && fitLimit == nil { throw ValidationError("--fit-shuffle needs --fit-limit") }
        guard let structure = PriorPrecision.Structure(rawValue: priorStructure) else {
            throw ValidationError("--prior-structure is scalar or layerwise")
        }
        guard Split(rawValue: priorSplit) != nil else { throw ValidationError("unknown --prior-split '\(priorSplit)'") }
        if let priorLimit, priorLimit <= 0 { throw ValidationError("--prior-limit must be positive") }
        switch prior {
        case "marglik", "grid":
            if priorPrecision != nil { throw ValidationError("--prior-precision goes with --prior fixed") }
            if prior == "grid" && upstream { throw ValidationError("--upstream optimises the marginal likelihood") }
            if prior == "grid" && structure == .layerwise {
                throw ValidationError("--prior grid searches a scalar prior precision")
            }
        case "fixed":
            guard let p = priorPrecision, p > 0, p.isFinite else {
                throw ValidationError("--prior fixed needs --prior-precision X with X > 0")
            }
            if upstream { throw ValidationError("--upstream is a way to optimise the prior; it has no use with fixed") }
            if structure == .layerwise { throw ValidationError("--prior fixed gives one prior precision") }
        default: throw ValidationError("--prior is marglik, grid or fixed")
        }
        guard let kind = LaplaceProcedure.Predictive(rawValue: predictive) else {
            throw ValidationError("--predictive is glm or nn")
        }
        if kind == .nn && prior == "grid" {
            throw ValidationError("--prior grid scores the GLM predictive; use marglik or fixed with --predictive nn")
        }
        if let samples, samples <= 0 { throw ValidationError("--samples must be positive") }
        guard maxFactorDim > 0 else { throw ValidationError("--max-factor-dim must be positive") }
        guard factorRank > 0, factorRank < maxFactorDim else {
            throw ValidationError("--factor-rank must be positive and below --max-factor-dim (\(maxFactorDim))")
        }
        if let savePosterior {
            let resolved = { (p: String) in URL(fileURLWithPath: p).standardizedFileURL.resolvingSymlinksInPath().path }
            guard resolved(savePosterior) != resolved(adapter) else {
                throw ValidationError(
                    "--save-posterior is the adapter's own directory; give the posterior one of its own")
            }
        }
        if outputs.resume && (savePosterior == nil || outputs.predictions == nil) {
            throw ValidationError(
                "--resume needs --save-posterior DIR (where the fit is kept) and --predictions (where the "
                    + "predictions are)")
        }
    }

    var predictiveKind: LaplaceProcedure.Predictive { LaplaceProcedure.Predictive(rawValue: predictive)! }
    /// --samples, or its default: 10,000 logit draws for the mc link, 100 weight samples for nn.
    var drawCount: Int { samples ?? predictiveKind.defaultSamples }

    var priorChoice: LaplaceProcedure.PriorChoice {
        switch prior {
        case "fixed": .fixed(priorPrecision!)
        case "grid": .grid
        default: upstream ? .upstream : .marglik
        }
    }

    func run() throws {
        let started = Date()
        try outputs.prepare()
        let task = try options.taskName
        _ = try task.files(for: options.splitName)
        let fitTaskName = fitTask.flatMap(TaskName.init) ?? task
        _ = try fitTaskName.files(for: Split(rawValue: fitSplit)!)
        let subject = try LaplaceSubject.load(adapter: adapter, options: options)
        let (modelPath, backend, parameters) = (subject.modelPath, subject.backend, subject.parameters)
        var timings = RunRecord.Timings()
        timings.loadSeconds = Date().timeIntervalSince(started)
        var fitSet = try DatasetLoader.load(
            task: fitTaskName, split: Split(rawValue: fitSplit)!, dataDirectory: subject.dataDirectory)
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
        let layout = try LaplaceLayout(
            parameters: parameters, subset: LaplaceLayout.Subset(rawValue: subset)!, name: adapter,
            answerRows: fit.answerRows)
        try testing.requireAnswers(in: layout, file: test.files.first ?? options.split, split: options.split)
        var validation: LaplaceSubject.Objective?
        var priorFiles: [String] = []
        if priorChoice == .grid {
            var held = try DatasetLoader.load(
                task: task, split: Split(rawValue: priorSplit)!, dataDirectory: subject.dataDirectory)
            if let priorLimit { held = held.select(first: priorLimit) }
            if priorSplit == options.split {
                warn("--prior grid chooses the prior on the \(priorSplit) split it is then evaluated on")
            }
            validation = try subject.objective(held)
            try validation!.requireAnswers(in: layout, file: held.files.first ?? priorSplit, split: priorSplit)
            priorFiles = held.files
        }
        timings.prepareSeconds = Date().timeIntervalSince(started) - timings.loadSeconds
        if subject.adapter.metadata["bayeval_train_bases"] == "true" {
            warn(
                "\(adapter) trained its LoRA-XS bases too (L-LoRA-S); the posterior is over its cores (and head), "
                    + "the bases fixed at their trained values")
        }
        note(
            "Laplace over \(layout.parameterCount) adapter parameters (\(subset): \(layout.blocks.count) tensors): "
                + "\(hessian) \(curvature) on \(fit.objective.exampleCount) \(fitTaskName.rawValue) "
                + "\(fitSplit) examples, "
                + "\(testing.objective.exampleCount) \(options.split) examples")

        let procedure = LaplaceProcedure(
            settings: .init(
                fit: .init(
                    structures: structures, curvature: CurvatureKind(rawValue: curvature)!,
                    batchSize: options.batchSize, seed: seed, maxFactorDimension: maxFactorDim,
                    factorRank: factorRank),
                prior: priorChoice, priorStructure: PriorPrecision.Structure(rawValue: priorStructure)!,
                predictive: predictiveKind, links: links, samples: drawCount, seed: seed, batchSize: options.batchSize))
        var reporters: [String: ProgressReporter] = [:]
        let progress = { (phase: String, done: Int, total: Int) in
            // A phase's reporter starts its clock when the phase starts (done = 0).
            if done == 0 { reporters[phase] = ProgressReporter(total: total, label: phase) }
            reporters[phase]?.update(done)
        }
        // What ties a saved posterior to its inputs (hashing the model takes a moment: only when saving).
        let provenance = try savePosterior.map { _ in
            LaplacePosteriorFile.Provenance(
                adapterDigest: try LaplacePosteriorFile.adapterDigest(directory: adapter),
                modelDigest: try LaplacePosteriorFile.digest(path: modelPath),
                fitDataDigest: try LaplacePosteriorFile.digest(files: fitSet.files, ids: fit.ids), curvature: curvature,
                settings: try fitSettings(validation: validation?.ids, files: priorFiles))
        }
        let fitted: LaplaceProcedure.Fitted
        if outputs.resume, let savePosterior, let provenance,
            let saved = try resumedFit(savePosterior, parameters, provenance, backend)
        {
            fitted = saved
        } else {
            fitted = try procedure.fit(
                fit.objective, validation: validation?.objective, parameters: parameters, layout: layout,
                backend: backend, progress: progress)
            if let savePosterior, let provenance {
                try LaplacePosteriorFile.write(
                    fitted, provenance: provenance, adapterDirectory: adapter, modelPath: modelPath, to: savePosterior)
                note("posterior saved in \(savePosterior)")
            }
        }
        fitted.warnings.forEach(warn)
        let report = LaplaceRows(
            fitted: fitted, curvature: curvature, priorMethod: priorChoice.name, samples: drawCount)
        report.notePosteriors()
        var collected: [LaplaceProcedure.Prediction] = []
        var warnings = fitted.warnings
        if outputs.resume, let path = outputs.predictions {
            let (done, resumeWarnings) = try report.resume(path: path, ids: testing.ids, labels: testing.labels)
            collected = done
            warnings += resumeWarnings
            resumeWarnings.forEach(warn)
        }
        let finished = Set(collected.map(\.index))
        let todo = (0..<testing.objective.exampleCount).filter { !finished.contains($0) }
        let log = try outputs.predictions.map { try PredictionLog(path: $0, truncate: !outputs.resume) }
        let record = { (batch: [LaplaceProcedure.Prediction]) in
            collected += batch
            try log?.append(batch.flatMap { p in report.records(p, id: testing.ids[p.index]) })
        }
        let predictSeconds =
            predictiveKind == .nn
            ? try procedure.predictSampled(
                fitted, test: testing.objective, indices: todo, parameters: parameters, progress: progress,
                predictions: record)
            : try procedure.predict(
                fitted, test: testing.objective, indices: todo, parameters: parameters, backend: backend,
                progress: progress, predictions: record)
        collected.sort { $0.index < $1.index }
        let rows = try report.results(collected, ids: testing.ids, outputs: outputs, threads: options.threads)
        print(ResultTable.render(rows))
        timings.scoreSeconds = fitted.seconds + predictSeconds
        timings.totalSeconds = Date().timeIntervalSince(started)
        note(
            String(
                format: "fit + prior %.1f s, predictive %.1f s, peak RSS %.0f MB", fitted.seconds, predictSeconds,
                Self.peakResidentMegabytes()))
        if let out = outputs.output {
            let inputs =
                [(role: "model", path: modelPath), (role: "adapter", path: adapter)]
                + (fitSet.files + test.files + priorFiles).map { (role: "data", path: $0) }
            var c = options.configuration(model: modelPath).merging(outputs.configuration) { $1 }
            c.merge([
                "adapter": adapter, "hessian": hessian, "curvature": curvature, "subset": subset, "fit_split": fitSplit,
                "fit_task": fitTaskName.rawValue,
                "fit_examples": String(fit.objective.exampleCount), "prior": priorChoice.name,
                "prior_structure": priorStructure, "link": predictiveKind == .nn ? "" : link, "predictive": predictive,
                "samples": String(drawCount), "seed": String(seed), "max_factor_dim": String(maxFactorDim),
                "factor_rank": String(factorRank),
                "fit_seconds": String(format: "%.3f", fitted.seconds),
                "predict_seconds": String(format: "%.3f", predictSeconds),
                "peak_rss_mb": String(format: "%.1f", Self.peakResidentMegabytes()),
            ]) { $1 }
            if let fitLimit { c["fit_limit"] = String(fitLimit) }
            if let fitShuffle { c["fit_shuffle"] = String(fitShuffle) }
            if priorChoice == .grid {
                c["prior_split"] = priorSplit
                if let priorLimit { c["prior_limit"] = String(priorLimit) }
            }
            if let savePosterior { c["save_posterior"] = savePosterior }
            try RunRecord(
                command: .laplace, bayevalVersion: Bayeval.version, configuration: c, results: rows,
                inputs: try RunRecord.hashInputs(inputs), timings: timings, resumedExamples: finished.count,
                warnings: warnings,
                platform: Bayeval.platform(options.device, threads: options.threads)
            ).write(to: out)
        }
    }

    /// The settings besides data and curvature that shape a fitted posterior and its priors, one line.
    func fitSettings(validation ids: [String]?, files: [String]) throws -> String {
        var parts = [
            "hessian=\(hessian)", "subset=\(subset)", "prior=\(priorChoice.name)", "prior_structure=\(priorStructure)",
            "seed=\(seed)", "max_factor_dim=\(maxFactorDim)", "factor_rank=\(factorRank)", "predictive=\(predictive)",
        ]
        if let priorPrecision { parts.append("prior_precision=\(priorPrecision)") }
        if priorChoice == .grid, let ids {
            parts.append("link=\(link)")
            parts.append("samples=\(drawCount)")
            parts.append("prior_data=" + (try LaplacePosteriorFile.digest(files: files, ids: ids)))
        }
        return parts.joined(separator: " ")
    }

    /// --resume: the posterior saved in `directory` when it was fitted on these inputs with these settings
    /// (nil when there is none yet: the run fits it); one fitted otherwise is refused.
    func resumedFit(
        _ directory: String, _ parameters: AdapterParameters, _ provenance: LaplacePosteriorFile.Provenance,
        _ backend: any ComputeBackend
    ) throws -> LaplaceProcedure.Fitted? {
        let file = (directory as NSString).appendingPathComponent(LaplacePosteriorFile.fileName)
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        let (saved, savedProvenance) = try LaplacePosteriorFile.read(
            directory: directory, parameters: parameters, provenance: provenance, backend: backend)
        let asked = structures.flatMap { s in
            (predictiveKind == .nn ? [nil] : links.map(Optional.some)).map {
                LaplaceProcedure.Row(structure: s, link: $0)
            }
        }
        guard savedProvenance == provenance, saved.rows == asked, saved.fit.layout.subset.rawValue == subset else {
            throw UsageError(
                file: file, item: "--resume",
                "the saved posterior was fitted with other data or settings (rows "
                    + saved.rows.map { "\($0.structure.rawValue) \($0.predictiveName)" }.joined(separator: ", ") + "; "
                    + "curvature \(savedProvenance.curvature); \(savedProvenance.settings)); resume with the same "
                    + "settings, or drop --resume to fit again")
        }
        note("resuming: the posterior saved in \(directory) is reused (fitted on \(saved.fit.count) examples)")
        return saved
    }

    /// The process's peak resident memory so far (getrusage: kilobytes on Linux).
    static func peakResidentMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}
