import Foundation
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
        "Laplace \(row.structure.rawValue) \(row.link?.rawValue ?? "nn")"
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
        [ExamplePrediction(id: id, label: p.label, probs: p.map, method: "MAP")]
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
                Method(.lora, label: "MAP"),
                predictions.map { ExamplePrediction(id: ids[$0.index], label: $0.label, probs: $0.map) },
                threads: threads)
        ]
        let layout = fitted.fit.layout
        for row in fitted.rows {
            let p = fitted.posteriors[row]!
            let geometricMean = Foundation.exp(
                p.prior.values.map(Foundation.log).reduce(0, +) / Double(p.prior.values.count))
            let details = LaplaceDetails(
                hessian: row.structure.rawValue, curvature: curvature, subset: layout.subset.rawValue,
                link: row.link?.rawValue ?? "nn", priorPrecision: geometricMean, priorMethod: priorMethod,
                logMarginalLikelihood: p.logMarginalLikelihood, parameterCount: layout.parameterCount,
                fitExamples: fitted.fit.count, clippedEigenvalues: p.clippedEigenvalues,
                priorStructure: p.prior.isScalar ? "scalar" : "layerwise",
                priorPrecisions: p.prior.isScalar ? nil : p.prior.values, predictive: row.link == nil ? "nn" : "glm")
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
}
