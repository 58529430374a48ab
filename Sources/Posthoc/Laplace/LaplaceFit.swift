import Foundation
import Loaders
import Runtime

/// Which curvature a fit estimates (`--curvature`): the generalised Gauss–Newton (exact, from a K − 1 column
/// square root of the loss Hessian over the K answer logits), the empirical Fisher (true labels), or the Monte Carlo
/// Fisher (labels drawn from the model, seeded per example).
public enum CurvatureKind: String, CaseIterable, Sendable {
    case ggn, ef, mc

    func target(seed: UInt64) -> CurvatureTarget {
        switch self {
        case .ggn: .lossHessianSquareRoot
        case .ef: .trueLabels
        case .mc: .sampledLabels(seed: seed)
        }
    }
}

/// A Laplace fit: one pass over the fit examples streams the curvature into every requested structure,
/// then each is decomposed once. Per batch only that batch's per-example gradients are held.
public struct LaplaceFit {
    public let layout: LaplaceLayout
    public let structures: [any LaplaceStructure]
    /// Σ −log p(y) over the fit examples at the MAP, and their count.
    public let loss: Double
    public let count: Int

    public struct Settings: Sendable {
        public var structures: [HessianStructure]
        public var curvature: CurvatureKind
        public var batchSize: Int
        public var seed: UInt64
        /// Kronecker factors wider than this are sketched, keeping their top `factorRank` eigenpairs.
        public var maxFactorDimension: Int
        public var factorRank: Int

        public init(
            structures: [HessianStructure], curvature: CurvatureKind = .ggn, batchSize: Int = 8, seed: UInt64 = 0,
            maxFactorDimension: Int = 4096, factorRank: Int = 256
        ) {
            self.structures = structures
            self.curvature = curvature
            self.batchSize = batchSize
            self.seed = seed
            self.maxFactorDimension = maxFactorDimension
            self.factorRank = factorRank
        }
    }

    /// Fits over `objective`'s examples at `indices`. `parameters` are the attached adapter's (their
    /// gradient buffers stay untouched).
    public static func fit(
        _ objective: any TrainingObjective, indices: [Int], parameters: AdapterParameters, layout: LaplaceLayout,
        settings: Settings, backend: any ComputeBackend, progress: (Int) -> Void = { _ in }
    ) throws -> LaplaceFit {
        let P = layout.parameterCount, wanted = Set(settings.structures)
        if wanted.contains(.full) && P > FullLaplace.maximumParameters {
            let gigabytes = Double(P) * Double(P) * 28 / 1e9
            throw UsageError(
                file: "--hessian", item: "full",
                "a full Hessian over \(P) parameters would take \(String(format: "%.1f", gigabytes)) GB; "
                    + "it is offered up to \(FullLaplace.maximumParameters) parameters (use kron or diag)")
        }
        guard !indices.isEmpty else { throw UsageError(file: "fit split", item: "", "no fit examples") }
        let kronecker =
            wanted.contains(.kron)
            ? KroneckerFactors(
                layout: layout, fitCount: indices.count, maxFactorDimension: settings.maxFactorDimension,
                factorRank: settings.factorRank) : nil
        let collector = CurvatureCollector(
            layout: layout, backend: backend, kronecker: kronecker,
            perExample: wanted.contains(.diag) || wanted.contains(.full))
        var diagonal = wanted.contains(.diag) ? [Double](repeating: 0, count: P) : []
        let full = wanted.contains(.full) ? FullGGNAccumulator(dimension: P, backend: backend) : nil
        let target = settings.curvature.target(seed: settings.seed)
        try objective.curvature(
            indices, target: target, batchSize: settings.batchSize, parameters: parameters, observer: collector
        ) { _, done in
            if !collector.nonFiniteExamples.isEmpty {
                throw UsageError(
                    file: "fit split", item: "examples \(collector.nonFiniteExamples.prefix(5))",
                    "the model's logits are NaN or infinite there; the curvature would be too")
            }
            let rows = collector.gradients.flatMap { $0 }
            if !diagonal.isEmpty {
                for g in rows { for p in 0..<P { diagonal[p] += Double(g[p]) * Double(g[p]) } }
            }
            full?.add(rows)
            progress(done)
        }
        var structures: [any LaplaceStructure] = []
        for s in settings.structures {
            switch s {
            case .kron: structures.append(try KroneckerLaplace(layout: layout, factors: kronecker!, backend: backend))
            case .diag: structures.append(DiagonalLaplace(diagonal: diagonal, layout: layout))
            case .full: structures.append(try full!.structure())
            }
        }
        return LaplaceFit(layout: layout, structures: structures, loss: collector.loss, count: collector.count)
    }

    /// The marginal likelihood of structure `s` as a function of its prior precision.
    public func marginalLikelihood(_ s: any LaplaceStructure) -> MarginalLikelihood {
        MarginalLikelihood(
            spectrum: s.spectrum, loss: loss, squaredNorm: layout.squaredNorm,
            blocks: s.blockRanges.map { Array(zip($0, layout.blockSquaredNorms)) })
    }
}

/// The linearised predictive of fitted structures on new examples: each example's MAP logits f and its K
/// Jacobian rows (one backward pass per answer logit, `CurvatureTarget.logits`), then J·Σ·Jᵀ per
/// structure. One pass of Jacobians serves every structure and link.
public struct LaplacePrediction: Sendable {
    public let index: Int
    public let label: Int
    public let logits: [Double]
    /// Per structure (in the fit's order) and prior asked for it: the K × K variance of the logits.
    public let variances: [[[[Double]]]]
}

extension LaplaceFit {
    /// Predictions for `objective`'s examples at `indices`, one call of `body` per batch (so a caller can
    /// write them as they come). `priors[i]` are the prior precisions `structures[i]` is predicted with.
    public func predict(
        _ objective: any TrainingObjective, indices: [Int], parameters: AdapterParameters, priors: [[PriorPrecision]],
        batchSize: Int, backend: any ComputeBackend, body: ([LaplacePrediction]) throws -> Void
    ) throws {
        precondition(priors.count == structures.count, "prior precisions for every structure")
        let collector = CurvatureCollector(layout: layout, backend: backend, kronecker: nil, perExample: true)
        try objective.curvature(
            indices, target: .logits, batchSize: batchSize, parameters: parameters, observer: collector
        ) { batch, _ in
            guard let outputs = collector.batch, outputs.examples == batch else {
                preconditionFailure("a curvature pass ran a batch without reporting its outputs")
            }
            var predictions: [LaplacePrediction] = []
            for (n, index) in batch.enumerated() {
                let K = outputs.logits[n].count
                let jacobian = Array(collector.gradients[n].prefix(K))
                guard outputs.logits[n].allSatisfy(\.isFinite), jacobian.allSatisfy({ $0.allSatisfy(\.isFinite) })
                else {
                    throw UsageError(
                        file: "test split", item: "example \(index)",
                        "its logits or Jacobian are NaN or infinite")
                }
                predictions.append(
                    LaplacePrediction(
                        index: index, label: outputs.labels[n], logits: outputs.logits[n].map(Double.init),
                        variances: zip(structures, priors).map { $0.functionalVariance(jacobian, priors: $1) }))
            }
            try body(predictions)
        }
    }
}
