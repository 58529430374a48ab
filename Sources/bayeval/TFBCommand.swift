import ArgumentParser
import Foundation
import Loaders
import Metrics
import Posthoc
import Records
import Runtime

struct TFBCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tfb",
        abstract: """
            Training-Free Bayesianization: find σ on an anchor set, then evaluate the MAP adapter and its TFB \
            posterior.
            """,
        discussion: """
            Each LoRA layer is re-expressed as B' = U diag(d), A' = VᵀA (thin SVD of B, same product) and gets a \
            Gaussian on A' with standard deviation σ/dᵢ on row i. σ is searched on the model's own \
            predictions on --anchor-size examples of --anchor-split (of --anchor-task) \
            (seeded shuffle): criterion nll = relative change of the anchor NLL against the deterministic \
            argmax, flip = share of anchor predictions that change; the result is the largest σ whose value \
            stayed within --tolerance. The search brackets itself: when --sigma-min already violates the \
            tolerance it steps down by factors of 4 (to 1e-6) until a σ is accepted, when --sigma-max is \
            accepted it steps up (to 1), then it bisects log σ for --steps steps. Every candidate σ scales the \
            same standard-normal draws (common random numbers), so candidates differ only in σ. Each \
            (example, sample) draws its own weights: a real posterior sample.
            --upstream reproduces bayesian-peft's search instead: linear bisection inside the fixed bracket \
            [--sigma-min, --sigma-max], the NLL ratio is divided by the anchor count \
            (so its 0.003 is a 150 % change on 500 anchors) and the σ returned is the last midpoint that \
            VIOLATED the tolerance (σ_max when none did). It also draws the noise as bayesian-peft's BLoB \
            forward does: one E per forward call (per 50 examples, its scripts' batch) and per-token Flipout \
            signs, ((x ⊙ r) Eᵀ) ⊙ s. That perturbs each token almost independently, which moves the \
            predictions less than a weight sample at the same σ, so its σ* is larger. With --sigmas or --sigma-grid no search is run: the \
            test split is evaluated at every σ (table, run.json and an SVG plot next to --output).
            """)

    /// The examples bayesian-peft's TFB scripts run per forward call (`--batch-size 50`): under --upstream,
    /// the examples that share one draw of E.
    static let upstreamBatch = 50

    @Argument(help: "The MAP (or MLE, or BLoB) PEFT adapter directory.")
    var adapter: String

    @OptionGroup var options: ModelTaskOptions
    @OptionGroup var outputs: RunOutputOptions

    @Option(help: "Anchor examples (a seeded shuffle of the anchor split).") var anchorSize = 500
    @Option(help: "Split the anchors come from.") var anchorSplit = "train"
    @Option(
        help: ArgumentHelp(
            "Task the anchors come from (default: --task); bayesian-peft's OOD runs search σ on the training "
                + "task (obqa) and test on another (arc-c, arc-e)."))
    var anchorTask: String?
    @Option(help: "Use this σ and skip the search (as bayesian-peft's OOD scripts fix σ).") var sigma: Double?
    @Option(help: "Lower end of the σ search.") var sigmaMin = 0.001
    @Option(help: "Upper end of the σ search.") var sigmaMax = 0.015
    @Option(help: "Bisection steps.") var steps = 5
    @Option(help: "Weight samples per prediction (0: the mean-only prediction).") var samples = 10
    @Option(help: "nll or flip.") var criterion = "nll"
    @Option(help: "Tolerance ε (default: 0.01 for flip and for nll; 0.003 for nll with --upstream).") var tolerance:
        Double?
    @Option(help: "Seed of the anchor shuffle and of every weight sample.") var seed: UInt64 = 42
    @Flag(help: "bayesian-peft's search exactly (see above).") var upstream = false
    @Option(help: "Evaluate at these σ instead of searching, e.g. 0.001,0.003,0.01.") var sigmas: String?
    @Option(help: "Evaluate at COUNT evenly spaced σ in [MIN, MAX] instead of searching, e.g. 0.001:0.015:8.")
    var sigmaGrid: String?
    @Option(help: "Write the posterior as a PEFT adapter (lora_A_rho in BLoB's convention) to this directory.")
    var savePosterior: String?

    func validate() throws {
        try options.requireTask()
        guard AnchorCriterion.Kind(rawValue: criterion) != nil else {
            throw ValidationError("--criterion is nll or flip")
        }
        guard Split(rawValue: anchorSplit) != nil else {
            throw ValidationError("unknown --anchor-split '\(anchorSplit)'")
        }
        guard anchorSize > 0, steps > 0, samples >= 0 else {
            throw ValidationError("--anchor-size and --steps must be positive, --samples ≥ 0")
        }
        guard sigmaMin > 0, sigmaMax > sigmaMin else { throw ValidationError("need 0 < --sigma-min < --sigma-max") }
        if savePosterior != nil, sigmas != nil || sigmaGrid != nil {
            throw ValidationError(
                "--save-posterior saves the σ a search finds; a sweep (--sigmas, --sigma-grid) has none")
        }
        guard !outputs.resume else {
            throw ValidationError("--resume is not supported by tfb (the search is not resumable); rerun it")
        }
        if let anchorTask, TaskName(rawValue: anchorTask) == nil {
            throw ValidationError("unknown --anchor-task '\(anchorTask)'")
        }
        if let sigma {
            guard sigma >= 0 else { throw ValidationError("--sigma must be ≥ 0") }
            guard sigmas == nil, sigmaGrid == nil else {
                throw ValidationError("--sigma fixes one σ; --sigmas and --sigma-grid sweep several")
            }
        }
        _ = try sweep()
    }

    /// The σ values of a sweep, or nil for a search.
    func sweep() throws -> [Double]? {
        if let sigmas {
            let v = sigmas.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !v.isEmpty, v.allSatisfy({ ($0 ?? -1) >= 0 }) else {
                throw ValidationError("--sigmas takes non-negative numbers separated by commas")
            }
            return v.map { $0! }
        }
        if let sigmaGrid {
            let p = sigmaGrid.split(separator: ":").map(String.init)
            guard p.count == 3, let lo = Double(p[0]), let hi = Double(p[1]), let n = Int(p[2]), n >= 2, lo >= 0,
                hi > lo
            else {
                throw ValidationError("--sigma-grid is MIN:MAX:COUNT with 0 ≤ MIN < MAX and COUNT ≥ 2")
            }
            return (0..<n).map { lo + (hi - lo) * Double($0) / Double(n - 1) }
        }
        return nil
    }

    func run() throws {
        let started = Date()
        try outputs.prepare()
        if let savePosterior { try OutputPaths.prepareDirectory(savePosterior, option: "--save-posterior") }
        let task = try options.taskName
        _ = try task.files(for: options.splitName)
        let anchorTaskName = anchorTask.flatMap(TaskName.init) ?? task
        _ = try anchorTaskName.files(for: Split(rawValue: anchorSplit)!)
        // An encoder's saved head goes on with the reparametrised patches (TFBPosterior attaches it whole).
        switch try options.loadRun(adapter: adapter) {
        case .decoder(let run):
            let posterior = try TFBPosterior(adapter: run.adapter, model: run.model, sigma: 0)
            try evaluate(
                run,
                TFBProcedure(
                    posterior: posterior, model: run.model, samples: samples, seed: seed, batchSize: options.batchSize,
                    flipoutExamplesPerCall: flipoutExamplesPerCall),
                started: started)
        case .encoder(let run):
            let posterior = try TFBPosterior(adapter: run.adapter, model: run.model, sigma: 0)
            try evaluate(
                run,
                TFBProcedure(
                    posterior: posterior, model: run.model, samples: samples, seed: seed, batchSize: options.batchSize,
                    flipoutExamplesPerCall: flipoutExamplesPerCall),
                started: started)
        }
    }

    /// The search (or sweep, or fixed σ) and the test evaluation, the same for every model family.
    func evaluate<Model>(
        _ run: ModelTaskOptions.LoadedRun<Model>, _ procedure: TFBProcedure<Model>, started: Date
    ) throws {
        let task = try options.taskName
        let anchorTaskName = anchorTask.flatMap(TaskName.init) ?? task
        let (modelPath, lora, dataDirectory) = (run.modelPath, run.adapter, run.dataDirectory)
        let posterior = procedure.posterior
        var timings = RunRecord.Timings()
        timings.loadSeconds = Date().timeIntervalSince(started)
        var test = try DatasetLoader.load(task: task, split: options.splitName, dataDirectory: dataDirectory)
        if let limit = options.limit { test = test.select(first: limit) }
        let testExamples = try run.prepare(test)
        let mapProbs = procedure.deterministic(testExamples)
        let mapMethod = Method(lora.kind == .loraXS ? .loraXS : .lora, label: Method.mapLabel)
        var rows: [MethodResult] = [try row(mapMethod, testExamples, mapProbs)]
        var search: TFBSearchRecord? = nil
        var dataFiles = test.files

        if let grid = try sweep() {
            var points: [(Double, MetricReport, [BootstrapInterval])] = []
            for sigma in grid {
                let probs = procedure.predictive(
                    testExamples, sigma: sigma, progress: progress(testExamples, "σ=\(Self.text(sigma))"))
                // One predictions file per σ, next to the one named: a.jsonl → a.sigma-0.003.jsonl.
                if let path = outputs.predictions {
                    try writePredictions(testExamples, [(nil, probs)], to: Self.path(path, sigma: sigma))
                }
                let r = try row(tfbMethod(sigma, label: "TFB σ=\(Self.text(sigma))"), testExamples, probs)
                points.append((sigma, r.metrics, r.intervals))
                rows.append(r)
            }
            print(ResultTable.render(rows))
            if let out = outputs.output {
                let svg = ((out as NSString).deletingPathExtension) + "-sweep.svg"
                do {
                    try SweepPlot.svg(
                        points, map: rows.first?.metrics, title: "TFB σ sweep: \(options.task) \(options.split)"
                    )
                    .write(toFile: svg, atomically: true, encoding: .utf8)
                } catch {
                    throw ValidationError("cannot write the sweep plot \(svg): \(OutputPaths.reason(error))")
                }
                note("plot: \(svg)")
            }
        } else if let sigma {
            note("σ = \(Self.text(sigma)) fixed by --sigma (no search)")
            let tfbProbs = procedure.predictive(testExamples, sigma: sigma, progress: progress(testExamples, "test"))
            rows.append(try row(tfbMethod(sigma, label: "TFB"), testExamples, tfbProbs))
            if let path = outputs.predictions {
                try writePredictions(testExamples, [(Method.mapLabel, mapProbs), ("TFB", tfbProbs)], to: path)
            }
            if let dir = savePosterior {
                try PosteriorWriter.write(
                    posterior, adapter: lora, to: dir,
                    metadata: ["tfb_seed": String(seed)].merging(noiseMetadata) { $1 })
                note("posterior written to \(dir)")
            }
            print(ResultTable.render(rows))
        } else {
            var anchorSet = try DatasetLoader.load(
                task: anchorTaskName, split: Split(rawValue: anchorSplit)!, dataDirectory: dataDirectory)
            anchorSet = anchorSet.shuffled(seed: seed).select(first: anchorSize)
            let anchors = try run.prepare(anchorSet)
            dataFiles += anchorSet.files
            let settings = TFBSearchSettings(
                criterion: AnchorCriterion.Kind(rawValue: criterion)!, tolerance: tolerance, upstream: upstream,
                minimum: sigmaMin, maximum: sigmaMax, steps: steps)
            let eps = settings.effectiveTolerance
            note(
                "σ search on \(anchors.count) \(anchorTaskName.rawValue) \(anchorSplit) anchors, "
                    + "criterion \(criterion), ε = \(eps), "
                    + "\(max(samples, 1)) samples per candidate"
            )
            let result = procedure.search(
                anchors: anchors, settings: settings,
                report: { step in
                    // Unbuffered, so each step shows as soon as it is known even when stdout is a pipe.
                    FileHandle.standardOutput.write(
                        Data(
                            String(
                                format: "  σ = %.6f  %@ = %.6g  %@\n", step.sigma, criterion, step.value,
                                step.accepted ? "accepted" : "violated"
                            ).utf8))
                }, progress: { sigma in progress(anchors, "anchors σ=\(Self.text(sigma))") })
            if !result.anyAccepted {
                warn(
                    upstream
                        ? "no σ in [\(sigmaMin), \(sigmaMax)] met the tolerance"
                        : "no σ down to \(Self.text(result.sigma)) met the tolerance")
            }
            note(String(format: "σ* = %.6f", result.sigma))
            let tfbProbs = procedure.predictive(
                testExamples, sigma: result.sigma, progress: progress(testExamples, "test"))
            rows.append(try row(tfbMethod(result.sigma, label: "TFB"), testExamples, tfbProbs))
            search = TFBSearchRecord(
                criterion: criterion, tolerance: eps, rule: settings.search.rule.rawValue, anchors: anchors.count,
                steps: result.steps.map { .init(sigma: $0.sigma, value: $0.value, accepted: $0.accepted) },
                sigma: result.sigma)
            if let path = outputs.predictions {
                try writePredictions(testExamples, [(Method.mapLabel, mapProbs), ("TFB", tfbProbs)], to: path)
            }
            if let dir = savePosterior {
                let steps = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
                try PosteriorWriter.write(
                    posterior, adapter: lora, to: dir,
                    metadata: ["tfb_search": steps, "tfb_seed": String(seed)].merging(noiseMetadata) { $1 })
                note("posterior written to \(dir)")
            }
            print(ResultTable.render(rows))
        }
        timings.totalSeconds = Date().timeIntervalSince(started)
        if let out = outputs.output {
            let inputs =
                [(role: "model", path: modelPath), (role: "adapter", path: adapter)]
                + dataFiles.map { (role: "data", path: $0) }
            try RunRecord(
                command: .tfb, bayevalVersion: Bayeval.version, configuration: configuration(modelPath: modelPath),
                results: rows, tfbSearch: search, inputs: try RunRecord.hashInputs(inputs), timings: timings,
                platform: Bayeval.platform(options.device, threads: options.threads)
            ).write(to: out)
        }
    }

    /// Under --upstream, the examples that share one draw of E (Flipout); nil: real weight samples.
    var flipoutExamplesPerCall: Int? { upstream ? Self.upstreamBatch : nil }

    /// How the noise was drawn, in a saved posterior's metadata, so `evaluate --samples` draws it the same way.
    var noiseMetadata: [String: String] {
        flipoutExamplesPerCall.map { [PosteriorWriter.flipoutKey: String($0)] } ?? [:]
    }

    func tfbMethod(_ sigma: Double, label: String) -> Method {
        Method(.tfb, samples: samples > 0 ? samples : nil, sigma: sigma, label: label)
    }

    /// What shapes tfb's numbers, for the run record.
    func configuration(modelPath: String) -> [String: String] {
        var c = options.configuration(model: modelPath).merging(outputs.configuration) { $1 }
        c.merge([
            "adapter": adapter, "samples": String(samples), "seed": String(seed), "anchor_size": String(anchorSize),
            "anchor_split": anchorSplit, "criterion": criterion, "sigma_min": String(sigmaMin),
            "sigma_max": String(sigmaMax), "steps": String(steps), "upstream": String(upstream),
            "noise": flipoutExamplesPerCall.map { "flipout (one E per \($0) examples)" } ?? "weight samples",
        ]) { $1 }
        if let sigmas { c["sigmas"] = sigmas }
        if let sigmaGrid { c["sigma_grid"] = sigmaGrid }
        if let tolerance { c["tolerance"] = String(tolerance) }
        if let anchorTask { c["anchor_task"] = anchorTask }
        if let sigma { c["sigma"] = String(sigma) }
        return c
    }

    /// A progress line for one pass over `examples` (nothing to show when it is deterministic and quick).
    func progress(_ examples: [some LabelledExample], _ label: String) -> (Int) -> Void {
        guard samples > 0 else { return { _ in } }
        let reporter = ProgressReporter(total: examples.count, label: label)
        return reporter.update
    }

    /// One row of the table: metrics of the finite predictions, with --bootstrap intervals.
    func row(_ method: Method, _ examples: [some LabelledExample], _ probs: [[Double]?]) throws -> MethodResult {
        let predictions = zip(examples, probs).map { ExamplePrediction(id: $0.id, label: $0.label, probs: $1) }.filter {
            $0.probs != nil
        }
        if predictions.count < examples.count {
            warn("\(examples.count - predictions.count) example(s) with non-finite logits left out")
        }
        guard !predictions.isEmpty else { throw ValidationError("no example produced finite logits") }
        return try outputs.result(method, predictions, threads: options.threads)
    }

    /// One line per example and row; rows named by their table label (nil: a file of one row).
    func writePredictions(
        _ examples: [some LabelledExample], _ rows: [(String?, [[Double]?])], to path: String
    ) throws {
        let log = try PredictionLog(path: path, truncate: true)
        for (label, probs) in rows {
            try log.append(
                zip(examples, probs).map { ExamplePrediction(id: $0.id, label: $0.label, probs: $1, method: label) })
        }
    }

    /// σ as people write it (0.0045, not 0.0045000000000000005).
    static func text(_ sigma: Double) -> String { String(format: "%.6g", sigma) }

    static func path(_ predictions: String, sigma: Double) -> String { SweepFiles.path(predictions, sigma: sigma) }
}
