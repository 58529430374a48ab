import ArgumentParser
import Foundation
import Loaders
import Posthoc
import Records
import Runtime

extension EvaluateCommand {
    /// `evaluate DIR --predictive glm|nn`: the Laplace posterior `bayeval laplace --save-posterior DIR`
    /// saved, predicted without refitting (its digests checked against the adapter and model).
    func runSavedPosterior(_ directory: String, predictive name: String, started: Date) throws {
        guard let kind = LaplaceProcedure.Predictive(rawValue: name) else {
            throw ValidationError("--predictive is glm or nn")
        }
        guard let links = GLMLink.list(link) else {
            throw ValidationError(
                "--link takes distinct values of probit, mc, bridge, bridge-norm, separated by commas")
        }
        let file = (directory as NSString).appendingPathComponent(LaplacePosteriorFile.fileName)
        guard FileManager.default.fileExists(atPath: file) else {
            throw UsageError(
                file: directory, item: LaplacePosteriorFile.fileName,
                "no saved Laplace posterior here: fit one with bayeval laplace ADAPTER --save-posterior \(directory)")
        }
        var timings = RunRecord.Timings()
        // The saved adapter_config keeps the base path the original adapter wrote, which may be relative to
        // that adapter's directory: where it does not resolve from here, the model the fit recorded is taken
        // (its SHA-256 is checked against the posterior's below either way).
        let subject = try LaplaceSubject.load(
            adapter: directory,
            options: options.withModel(
                fallback: LaplacePosteriorFile.recordedModelPath(directory: directory), adapter: directory))
        let (saved, provenance) = try LaplacePosteriorFile.read(
            directory: directory, parameters: subject.parameters,
            provenance: .init(
                adapterDigest: try LaplacePosteriorFile.adapterDigest(directory: directory),
                modelDigest: try LaplacePosteriorFile.digest(path: subject.modelPath), fitDataDigest: "",
                curvature: ""),
            backend: subject.backend)
        timings.loadSeconds = Date().timeIntervalSince(started)
        var test = try DatasetLoader.load(
            task: try options.taskName, split: options.splitName, dataDirectory: subject.dataDirectory)
        if let limit = options.limit { test = test.select(first: limit) }
        let testing = try subject.objective(test)
        guard testing.objective.exampleCount > 0 else {
            throw UsageError(file: test.files.first ?? options.split, item: options.split, "the split has no examples")
        }
        try testing.requireAnswers(in: saved.fit.layout, file: directory, split: options.split)
        timings.prepareSeconds = Date().timeIntervalSince(started) - timings.loadSeconds
        let rowLinks: [GLMLink?] = kind == .nn ? [nil] : links.map { $0 }
        let fitted = try saved.withRows(rowLinks)
        let draws = samples > 0 ? samples : kind.defaultSamples
        let structureNames = saved.fit.structures.map(\.structure.rawValue).joined(separator: ", ")
        note(
            "saved Laplace posterior over \(saved.fit.layout.parameterCount) parameters "
                + "(\(saved.fit.layout.subset.rawValue); \(structureNames)), fitted on \(saved.fit.count) examples), "
                + "\(kind.rawValue) predictive on "
                + "\(testing.objective.exampleCount) \(options.split) examples")
        let procedure = LaplaceProcedure(
            settings: .init(
                fit: .init(structures: saved.fit.structures.map(\.structure)), prior: .marglik, predictive: kind,
                links: links, samples: draws, seed: seed, batchSize: options.batchSize))
        let report = LaplaceRows(fitted: fitted, curvature: provenance.curvature, priorMethod: "saved", samples: draws)
        report.notePosteriors()
        var collected: [LaplaceProcedure.Prediction] = []
        var warnings: [String] = []
        if outputs.resume, let path = outputs.predictions {
            (collected, warnings) = try report.resume(path: path, ids: testing.ids, labels: testing.labels)
            warnings.forEach(warn)
        }
        let finished = Set(collected.map(\.index))
        let todo = (0..<testing.objective.exampleCount).filter { !finished.contains($0) }
        let log = try outputs.predictions.map { try PredictionLog(path: $0, truncate: !outputs.resume) }
        var reporter: ProgressReporter?
        let progress = { (_: String, done: Int, total: Int) in
            if done == 0 { reporter = ProgressReporter(total: total, label: "\(options.task) \(options.split)") }
            reporter?.update(done)
        }
        let record = { (batch: [LaplaceProcedure.Prediction]) in
            collected += batch
            try log?.append(batch.flatMap { report.records($0, id: testing.ids[$0.index]) })
        }
        let seconds =
            kind == .nn
            ? try procedure.predictSampled(
                fitted, test: testing.objective, indices: todo, parameters: subject.parameters, progress: progress,
                predictions: record)
            : try procedure.predict(
                fitted, test: testing.objective, indices: todo, parameters: subject.parameters,
                backend: subject.backend, progress: progress, predictions: record)
        collected.sort { $0.index < $1.index }
        let rows = try report.results(collected, ids: testing.ids, outputs: outputs, threads: options.threads)
        print(ResultTable.render(rows))
        timings.scoreSeconds = seconds
        timings.totalSeconds = Date().timeIntervalSince(started)
        if let out = outputs.output {
            var c = options.configuration(model: subject.modelPath).merging(outputs.configuration) { $1 }
            c.merge([
                "adapter": directory, "predictive": kind.rawValue, "link": kind == .nn ? "" : link,
                "samples": String(draws), "seed": String(seed), "fit_data_sha256": provenance.fitDataDigest,
            ]) { $1 }
            let inputs =
                [(role: "model", path: subject.modelPath), (role: "adapter", path: directory)]
                + test.files.map { (role: "data", path: $0) }
            try RunRecord(
                command: .evaluate, bayevalVersion: Bayeval.version, configuration: c, results: rows,
                inputs: try RunRecord.hashInputs(inputs), timings: timings, resumedExamples: finished.count,
                warnings: warnings, platform: Bayeval.platform(options.device, threads: options.threads)
            ).write(to: out)
        }
    }
}
