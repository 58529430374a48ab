import Foundation
import Loaders
import Runtime

/// The whole Laplace run `bayeval laplace` makes: fit every requested structure in one curvature pass over
/// the fit examples, choose each one's prior precision, then one pass of test Jacobians shared by every
/// structure and link. Predictions go to the caller batch by batch (written as they come).
public struct LaplaceProcedure {
    public enum PriorChoice: Sendable, Equatable {
        /// The δ maximising the marginal likelihood (exactly).
        case marglik
        /// laplace-torch's schedule: Adam on log δ from 1, lr 0.1, 100 steps.
        case upstream
        case fixed(Double)

        public var name: String {
            switch self {
            case .marglik: "marglik"
            case .upstream: "upstream"
            case .fixed: "fixed"
            }
        }
    }

    public struct Settings: Sendable {
        public var fit: LaplaceFit.Settings
        public var prior: PriorChoice
        public var links: [GLMLink]
        /// Draws per example of the `mc` link, seeded by (seed, example).
        public var samples: Int
        public var seed: UInt64
        public var batchSize: Int

        public init(
            fit: LaplaceFit.Settings, prior: PriorChoice, links: [GLMLink], samples: Int = 10_000, seed: UInt64 = 0,
            batchSize: Int = 8
        ) {
            self.fit = fit
            self.prior = prior
            self.links = links
            self.samples = samples
            self.seed = seed
            self.batchSize = batchSize
        }
    }

    /// One fitted structure with its prior.
    public struct Posterior: Sendable {
        public let structure: HessianStructure
        public let priorPrecision: Double
        public let logMarginalLikelihood: Double
        public let clippedEigenvalues: Int
    }

    /// One test example: the MAP's probabilities and, per (structure, link), the predictive's.
    public struct Prediction: Sendable {
        public let index: Int
        public let label: Int
        public let map: [Double]
        public let laplace: [Row: [Double]]
    }

    public struct Row: Hashable, Sendable {
        public let structure: HessianStructure
        public let link: GLMLink
        public init(structure: HessianStructure, link: GLMLink) {
            self.structure = structure
            self.link = link
        }
    }

    public struct Outcome: Sendable {
        public let posteriors: [Posterior]
        public let parameterCount: Int
        public let fitExamples: Int
        public let fitSeconds: Double
        public let predictSeconds: Double
        public let warnings: [String]
        public var rows: [Row] { posteriors.flatMap { p in links.map { Row(structure: p.structure, link: $0) } } }
        let links: [GLMLink]
    }

    public let settings: Settings
    public init(settings: Settings) { self.settings = settings }

    public func run(
        fit fitObjective: any TrainingObjective, test testObjective: any TrainingObjective,
        parameters: AdapterParameters, layout: LaplaceLayout, backend: any ComputeBackend,
        progress: (_ phase: String, _ done: Int, _ total: Int) -> Void = { _, _, _ in },
        predictions: ([Prediction]) throws -> Void
    ) throws -> Outcome {
        if case .fixed(let δ) = settings.prior, !(δ > 0 && δ.isFinite) {
            throw UsageError(file: "--prior-precision", item: "\(δ)", "the prior precision must be positive and finite")
        }
        if let bad = layout.values.firstIndex(where: { !$0.isFinite }) {
            let block = layout.blocks.last { $0.offset <= bad }!
            throw UsageError(
                file: "adapter", item: "\(block.module) \(block.role.rawValue)",
                "holds NaN or infinite values; no posterior can be centred on it")
        }
        let fitStart = Date()
        let fitCount = fitObjective.exampleCount
        progress("fit", 0, fitCount)
        let fit = try LaplaceFit.fit(
            fitObjective, indices: Array(0..<fitCount), parameters: parameters, layout: layout,
            settings: settings.fit, backend: backend, progress: { progress("fit", $0, fitCount) })
        var warnings: [String] = []
        let posteriors = try fit.structures.map { s -> Posterior in
            guard s.spectrum.allSatisfy(\.isFinite) else {
                throw UsageError(
                    file: "fit split", item: s.structure.rawValue, "the curvature holds NaN or infinite values")
            }
            let ml = fit.marginalLikelihood(s)
            let δ: Double
            switch settings.prior {
            case .marglik: δ = ml.maximisingPrior()
            case .upstream: δ = ml.upstreamPrior()
            case .fixed(let value): δ = value
            }
            if settings.prior == .marglik && (δ <= Foundation.exp(-39.9) || δ >= Foundation.exp(39.9)) {
                warnings.append(
                    "\(s.structure.rawValue): the marginal likelihood is maximised at the edge of the search "
                        + "(δ = \(δ)); the posterior is degenerate")
            }
            return Posterior(
                structure: s.structure, priorPrecision: δ, logMarginalLikelihood: ml.logMarginalLikelihood(prior: δ),
                clippedEigenvalues: s.clippedEigenvalues)
        }
        let fitSeconds = Date().timeIntervalSince(fitStart)
        let predictStart = Date()
        let testCount = testObjective.exampleCount
        progress("predict", 0, testCount)
        var done = 0
        try fit.predict(
            testObjective, indices: Array(0..<testCount), parameters: parameters,
            priors: posteriors.map(\.priorPrecision), batchSize: settings.batchSize, backend: backend
        ) { batch in
            try predictions(
                batch.map { p in
                    var laplace: [Row: [Double]] = [:]
                    for (s, variance) in zip(posteriors, p.variances) {
                        for link in settings.links {
                            laplace[Row(structure: s.structure, link: link)] = link.probabilities(
                                mean: p.logits, variance: variance, samples: settings.samples,
                                seed: SplitMix64.stream(p.index, of: settings.seed).state)
                        }
                    }
                    return Prediction(
                        index: p.index, label: p.label, map: GLMLink.softmax(p.logits), laplace: laplace)
                })
            done += batch.count
            progress("predict", done, testCount)
        }
        return Outcome(
            posteriors: posteriors, parameterCount: layout.parameterCount, fitExamples: fit.count,
            fitSeconds: fitSeconds, predictSeconds: Date().timeIntervalSince(predictStart), warnings: warnings,
            links: settings.links)
    }
}
