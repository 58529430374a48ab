import Foundation
import Loaders
import Posthoc
import Runtime
import Records

/// The rows of a Laplace run as `laplace` and `evaluate DIR --predictive glm` print and record them: the
/// MAP, then one per fitted structure × link, each with its prior, marginal likelihood and settings.
struct LaplaceRows {
    let fitted: LaplaceProcedure.Fitted
    let curvature: String
    let priorMethod: String
    let samples: Int

    static func label(_ row: LaplaceProcedure.Row) -> String {
        "Laplace \(row.structure.rawValue) \(row.predictiveName)"
    }

    /// Prints each structure's prior and marginal likelihood.
    func notePosteriors() {
        var seen = Set<String>()
        for row in fitted.rows {
            let p = fitted.posteriors[row]!
            let prior =
                p.prior.isScalar
                ? String(format: "%.6g", p.prior.values[0])
                : String(
                    format: "layerwise, %d values from %.3g to %.3g", p.prior.values.count, p.prior.values.min()!,
                    p.prior.values.max()!)
            let line = String(
                format: "%@: prior precision %@ (%@), log marginal likelihood %.6f%@", p.structure.rawValue, prior,
                priorMethod, p.logMarginalLikelihood,
                p.clippedEigenvalues > 0 ? ", \(p.clippedEigenvalues) round-off eigenvalues below 0 clipped" : "")
            if seen.insert(line).inserted { note(line) }
        }
    }

    /// One prediction line per row (MAP first) for an example.
    func records(_ p: LaplaceProcedure.Prediction, id: String) -> [ExamplePrediction] {
        [ExamplePrediction(id: id, label: p.label, probs: p.map, method: Method.mapLabel)]
            + fitted.rows.map { row in
                ExamplePrediction(id: id, label: p.label, probs: p.laplace[row], method: Self.label(row))
            }
    }

    /// The MAP row and every Laplace row over `predictions`.
    func results(
        _ predictions: [LaplaceProcedure.Prediction], ids: [String], outputs: RunOutputOptions, threads: Int
    ) throws -> [MethodResult] {
        var results = [
            try outputs.result(
                Method(.lora, label: Method.mapLabel),
                predictions.map { ExamplePrediction(id: ids[$0.index], label: $0.label, probs: $0.map) },
                threads: threads)
        ]
        let layout = fitted.fit.layout
        for row in fitted.rows {
            let p = fitted.posteriors[row]!
            let geometricMean = Foundation.exp(
                p.prior.values.map(Foundation.log).reduce(0, +) / Double(p.prior.values.count))
            var details = LaplaceDetails(
                hessian: row.structure.rawValue, curvature: curvature, subset: layout.subset.rawValue,
                link: row.predictiveName, priorPrecision: geometricMean, priorMethod: priorMethod,
                logMarginalLikelihood: p.logMarginalLikelihood, parameterCount: layout.parameterCount,
                fitExamples: fitted.fit.count, clippedEigenvalues: p.clippedEigenvalues,
                priorStructure: p.prior.isScalar ? "scalar" : "layerwise",
                priorPrecisions: p.prior.isScalar ? nil : p.prior.values,
                predictive: (row.link == nil ? LaplaceProcedure.Predictive.nn : .glm).rawValue)
            // The marginal likelihood over a scalar prior, every third δ of laplace-torch's grid: the curve
            // the report draws, with the prior chosen marked.
            if let structure = fitted.fit.structures.first(where: { $0.structure == row.structure }) {
                let ml = fitted.fit.marginalLikelihood(structure)
                details.marginalLikelihoodCurve = stride(from: 0, to: LaplaceProcedure.priorGrid.count, by: 3).map {
                    let δ = LaplaceProcedure.priorGrid[$0]
                    return [δ, ml.logMarginalLikelihood(prior: δ)]
                }
            }
            let method = Method(
                .laplace, samples: row.link == .mc || row.link == nil ? samples : nil, label: Self.label(row),
                laplace: details)
            results.append(
                try outputs.result(
                    method,
                    predictions.map { ExamplePrediction(id: ids[$0.index], label: $0.label, probs: $0.laplace[row]) },
                    threads: threads))
        }
        return results
    }

    /// --resume: the examples `path` already holds every row of (MAP and each Laplace row), as predictions;
    /// the file is rewritten to hold only their lines, so an example cut off mid-write is predicted again.
    /// Lines for rows or examples this run does not have mean another run's file and are refused, as are
    /// lines whose label is not the dataset's or whose probabilities are missing, not finite or of another
    /// width than the example's other rows.
    func resume(
        path: String, ids: [String], labels: [Int]
    ) throws -> (
        done: [LaplaceProcedure.Prediction], warnings: [String]
    ) {
        let (lines, dropped) = try PredictionLog.read(path: path)
        let index = Dictionary(ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        guard index.count == ids.count else {
            throw UsageError(file: path, item: "id", "example ids are not unique; results could not be matched")
        }
        let methods = [Method.mapLabel] + fitted.rows.map(Self.label)
        var byID: [String: [String: ExamplePrediction]] = [:]
        for line in lines {
            guard index[line.id] != nil, let method = line.method, methods.contains(method) else {
                throw LoadError(
                    .invalidValue, file: path, item: line.id + " " + (line.method ?? "no method"),
                    "not a row of this run (another run's file? resume with the same --hessian and --link)")
            }
            let i = index[line.id]!
            guard line.label == labels[i] else {
                throw LoadError(
                    .invalidValue, file: path, item: "\(line.id) \(method)",
                    "label \(line.label), but the dataset's is \(labels[i]) (another split's file?)")
            }
            guard let probs = line.probs, probs.count >= 2, probs.allSatisfy(\.isFinite),
                byID[line.id]?.values.first.map({ $0.probs?.count == probs.count }) ?? true
            else {
                throw LoadError(
                    .invalidValue, file: path, item: "\(line.id) \(method)",
                    "probs are missing, not finite, or of another width than the example's other rows")
            }
            byID[line.id, default: [:]][method] = line
        }
        let complete = ids.filter { id in byID[id].map { $0.count == methods.count } ?? false }
        let done = complete.map { id -> LaplaceProcedure.Prediction in
            let rows = byID[id]!
            return LaplaceProcedure.Prediction(
                index: index[id]!, label: rows[Method.mapLabel]!.label, map: rows[Method.mapLabel]!.probs!,
                laplace: Dictionary(uniqueKeysWithValues: fitted.rows.map { ($0, rows[Self.label($0)]!.probs!) }))
        }
        let log = try PredictionLog(path: path, truncate: true)
        try log.append(done.flatMap { records($0, id: ids[$0.index]) })
        var warnings: [String] = []
        if dropped || complete.count < byID.count {
            warnings.append(
                "\(byID.count - complete.count) example(s) of \(path) were cut off mid-write; predicted again")
        }
        note("resuming: \(done.count) of \(ids.count) examples already in \(path)")
        return (done, warnings)
    }
}
