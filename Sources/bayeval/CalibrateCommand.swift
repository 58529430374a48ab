import ArgumentParser
import Foundation
import Loaders
import Metrics
import Records
import Runtime

struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Temperature scaling: fit one temperature on a held-out split, evaluate the adapter with it.",
        discussion: """
            The non-Bayesian baseline of calibration papers (Guo et al., 2017). The adapter's deterministic \
            predictions on --fit-split give T, the exact minimiser of their mean NLL under \
            softmax(log p / T) (a convex problem in 1/T: bisection, then Newton steps). The test split is then \
            scored once and reported with and without T. T is written to temperature.json beside --output. \
            Decoders and encoders alike.
            """)

    @Argument(help: "The PEFT adapter directory.") var adapter: String
    @OptionGroup var options: ModelTaskOptions
    @OptionGroup var outputs: RunOutputOptions
    @Option(help: "Split the temperature is fitted on.") var fitSplit = "validation"
    @Option(help: "Fit on the first N examples of --fit-split (file order).") var fitLimit: Int?

    static let fileName = "temperature.json"

    func validate() throws {
        try options.requireTask()
        guard let fit = Split(rawValue: fitSplit) else { throw ValidationError("unknown --fit-split '\(fitSplit)'") }
        if let fitLimit, fitLimit <= 0 { throw ValidationError("--fit-limit must be positive") }
        guard !outputs.resume else {
            throw ValidationError("--resume is not supported by calibrate (two deterministic passes); rerun it")
        }
        if fit == options.splitName {
            throw ValidationError(
                "--fit-split and --split are both \(fitSplit): a temperature fitted on the test examples "
                    + "would be judged on them")
        }
    }

    func run() throws {
        let started = Date()
        try outputs.prepare()
        let task = try options.taskName, fit = Split(rawValue: fitSplit)!
        _ = try task.files(for: fit)
        _ = try task.files(for: options.splitName)
        let model = try DeterministicPredictions.load(adapter: adapter, options: options)
        var timings = RunRecord.Timings()
        timings.loadSeconds = Date().timeIntervalSince(started)

        let fitSet = try model.dataset(task, fit, limit: fitLimit)
        let fitPredictions = try model.predictions(fitSet).filter { $0.probs != nil }
        guard !fitPredictions.isEmpty else { throw ValidationError("no fit example produced finite logits") }
        let temperature: TemperatureScaling.Fit
        do {
            temperature = try TemperatureScaling.fit(
                probabilities: fitPredictions.map { $0.probs! }, labels: fitPredictions.map(\.label))
        } catch let problem as TemperatureScaling.Problem {
            throw UsageError(file: fitSet.files.first ?? fitSplit, item: "--fit-split \(fitSplit)", "\(problem)")
        }
        note(
            String(
                format: "temperature %.6g fitted on %d %@ examples (NLL %.4f → %.4f)%@", temperature.temperature,
                temperature.examples, fitSplit, temperature.nllBefore, temperature.nllAfter,
                !temperature.atBound
                    ? ""
                    : temperature.temperature < 1
                        ? "; at the search bound (the fit errors' margins are too small to stop the sharpening)"
                        : "; at the search bound (the predictions are no better than uniform)"))

        let scoreStart = Date()
        let test = try model.dataset(task, options.splitName, limit: options.limit)
        let scored = try model.predictions(test)
        let byID = Dictionary(scored.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        guard byID.count == test.count, Set(test.examples.map(\.id)).count == test.count else {
            throw UsageError(
                file: test.files.first ?? options.split, item: "id",
                "example ids are not unique; predictions could not be matched to examples")
        }
        let map = try test.examples.map { e -> ExamplePrediction in
            guard let p = byID[e.id] else {
                throw UsageError(file: test.files.first ?? options.split, item: e.id, "this example was not scored")
            }
            return p
        }
        let label = String(format: "Temperature (T=%.3g)", temperature.temperature)
        let scaled = map.map {
            ExamplePrediction(
                id: $0.id, label: $0.label,
                probs: $0.probs.map { TemperatureScaling.apply(temperature: temperature.temperature, to: $0) },
                method: label)
        }
        timings.scoreSeconds = Date().timeIntervalSince(scoreStart)
        let finite = map.filter { $0.probs != nil }
        if finite.count < map.count { warn("\(map.count - finite.count) example(s) with non-finite logits left out") }
        guard !finite.isEmpty else { throw ValidationError("no test example produced finite logits") }
        let rows = [
            try outputs.result(Method(.lora, label: Method.mapLabel), finite, threads: options.threads),
            try outputs.result(
                Method(
                    .temperature, label: label,
                    temperature: temperature.temperature), scaled.filter { $0.probs != nil }, threads: options.threads),
        ]
        print(ResultTable.render(rows))
        timings.totalSeconds = Date().timeIntervalSince(started)
        if let path = outputs.predictions {
            let log = try PredictionLog(path: path, truncate: true)
            try log.append(
                map.map { ExamplePrediction(id: $0.id, label: $0.label, probs: $0.probs, method: Method.mapLabel) }
                    + scaled)
        }
        if let out = outputs.output {
            let file = ((out as NSString).deletingLastPathComponent as NSString).appendingPathComponent(Self.fileName)
            do {
                try Rendering.json(temperature).write(toFile: file, atomically: true, encoding: .utf8)
            } catch {
                throw WriteError(file: file, item: "", "cannot write the temperature: \(OutputPaths.reason(error))")
            }
            var c = options.configuration(model: model.modelPath).merging(outputs.configuration) { $1 }
            c.merge(["adapter": adapter, "fit_split": fitSplit, "temperature": String(temperature.temperature)]) { $1 }
            if let fitLimit { c["fit_limit"] = String(fitLimit) }
            let inputs =
                [(role: "model", path: model.modelPath), (role: "adapter", path: adapter)]
                + (test.files + fitSet.files).map { (role: "data", path: $0) }
            try RunRecord(
                command: .calibrate, bayevalVersion: Bayeval.version, configuration: c, results: rows,
                inputs: try RunRecord.hashInputs(inputs), timings: timings,
                platform: Bayeval.platform(options.device, threads: options.threads)
            ).write(to: out)
        }
    }
}
