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
        /// The δ of laplace-torch's grid whose predictive has the lowest NLL on held-out examples, per
        /// structure and link.
        case grid
        case fixed(Double)

        public var name: String {
            switch self {
            case .marglik: "marglik"
            case .upstream: "upstream"
            case .grid: "grid"
            case .fixed: "fixed"
            }
        }
    }

    /// laplace-torch's default grid: log10 δ from −4 to 4 in 100 points.
    public static let priorGrid: [Double] = (0..<100).map { Foundation.pow(10, -4 + 8 * Double($0) / 99) }

    public struct Settings: Sendable {
        public var fit: LaplaceFit.Settings
        public var prior: PriorChoice
        public var priorStructure: PriorPrecision.Structure
        public var predictive: Predictive
        public var links: [GLMLink]
        /// Draws per example of the `mc` link, seeded by (seed, example); weight samples of `nn`.
        public var samples: Int
        public var seed: UInt64
        public var batchSize: Int

        public init(
            fit: LaplaceFit.Settings, prior: PriorChoice, priorStructure: PriorPrecision.Structure = .scalar,
            predictive: Predictive = .glm, links: [GLMLink], samples: Int = 10_000, seed: UInt64 = 0,
            batchSize: Int = 8
        ) {
            self.predictive = predictive
            self.fit = fit
            self.prior = prior
            self.priorStructure = priorStructure
            self.links = links
            self.samples = samples
            self.seed = seed
            self.batchSize = batchSize
        }
    }

    /// One fitted structure with the prior one row predicts with.
    public struct Posterior: Sendable {
        public let structure: HessianStructure
        public let prior: PriorPrecision
        public let logMarginalLikelihood: Double
        public let clippedEigenvalues: Int
    }

    /// laplace-torch's `pred_type`: the linearised model (with a link) or weight samples through the network.
    public enum Predictive: String, CaseIterable, Sendable {
        case glm, nn
        /// Draws when none are asked for: 10,000 logit draws per example for the mc link (laplace-torch
        /// draws 100; logit draws are cheap next to the Jacobians, and 10,000 put the Monte Carlo error of
        /// a probability below 0.005), 100 weight samples for nn (laplace-torch's `n_samples` default).
        public var defaultSamples: Int { self == .nn ? 100 : 10_000 }
    }

    /// One table row: a structure and its predictive, GLM with a link or, with `link` nil, NN.
    public struct Row: Hashable, Sendable {
        public let structure: HessianStructure
        public let link: GLMLink?
        public init(structure: HessianStructure, link: GLMLink?) {
            self.structure = structure
            self.link = link
        }
        /// The link's name, or `nn` for weight samples: how rows are labelled and saved.
        public var predictiveName: String { link?.rawValue ?? Predictive.nn.rawValue }
    }

    /// One test example: the MAP's probabilities and, per row, the predictive's.
    public struct Prediction: Sendable {
        public let index: Int
        public let label: Int
        public let map: [Double]
        public let laplace: [Row: [Double]]
        public init(index: Int, label: Int, map: [Double], laplace: [Row: [Double]]) {
            self.index = index
            self.label = label
            self.map = map
            self.laplace = laplace
        }
    }

    /// The fitted structures and each row's prior.
    public struct Fitted {
        public let fit: LaplaceFit
        /// Structure-major, links in the asked order.
        public let rows: [Row]
        public let posteriors: [Row: Posterior]
        public let seconds: Double
        public let warnings: [String]

        /// The same posteriors with other rows: per structure, one per link (nil: NN), each with the prior
        /// this fit chose for that link, or else the structure's one prior. A structure whose rows chose
        /// different priors (`--prior grid` scores each link's predictive) has none for a link it was not
        /// fitted with: that is refused, not borrowed from another link.
        public func withRows(_ links: [GLMLink?]) throws -> Fitted {
            var rows: [Row] = [], posteriors: [Row: Posterior] = [:]
            for s in fit.structures {
                let fitted = self.rows.filter { $0.structure == s.structure }
                guard let first = fitted.first else { continue }
                let shared = fitted.allSatisfy { self.posteriors[$0]!.prior == self.posteriors[first]!.prior }
                for link in links {
                    let row = Row(structure: s.structure, link: link)
                    guard let posterior = self.posteriors[row] ?? (shared ? self.posteriors[first] : nil) else {
                        let chosen = fitted.map(\.predictiveName).joined(separator: ", ")
                        throw UsageError(
                            file: "--link", item: row.predictiveName,
                            "the saved \(s.structure.rawValue) posterior chose its prior per link (\(chosen)); "
                                + "refit with this link to get its own")
                    }
                    rows.append(row)
                    posteriors[row] = posterior
                }
            }
            return Fitted(fit: fit, rows: rows, posteriors: posteriors, seconds: seconds, warnings: warnings)
        }
    }

    public let settings: Settings
    public init(settings: Settings) { self.settings = settings }

    /// Fits every structure on `fitObjective`'s examples and chooses the priors; `validation` holds the
    /// held-out examples of `--prior grid`.
    public func fit(
        _ fitObjective: any TrainingObjective, validation: (any TrainingObjective)? = nil,
        parameters: AdapterParameters, layout: LaplaceLayout, backend: any ComputeBackend,
        progress: (_ phase: String, _ done: Int, _ total: Int) -> Void = { _, _, _ in }
    ) throws -> Fitted {
        try checkSettings(layout: layout, validation: validation)
        let start = Date()
        let fitCount = fitObjective.exampleCount
        progress("fit", 0, fitCount)
        let fit = try LaplaceFit.fit(
            fitObjective, indices: Array(0..<fitCount), parameters: parameters, layout: layout,
            settings: settings.fit, backend: backend, progress: { progress("fit", $0, fitCount) })
        var warnings: [String] = []
        for s in fit.structures where !s.spectrum.allSatisfy(\.isFinite) {
            throw UsageError(
                file: "fit split", item: s.structure.rawValue, "the curvature holds NaN or infinite values")
        }
        for case let k as KroneckerLaplace in fit.structures {
            guard let worst = k.raisedShifts.max(by: { $0.relativeShift < $1.relativeShift }) else { continue }
            warnings.append(
                String(
                    format: "kron: %d sketched factor(s) needed a Nyström shift above float precision, up to %.3g "
                        + "of the largest eigenvalue (%@): their eigenvalues below it are not resolved",
                    k.raisedShifts.count, worst.relativeShift, worst.factor))
        }
        let gridChoice = try settings.prior == .grid ? gridSearch(fit, validation!, parameters, backend, progress) : [:]
        var rows: [Row] = [], posteriors: [Row: Posterior] = [:]
        for s in fit.structures {
            let ml = fit.marginalLikelihood(s)  // a layerwise prior only where allowed: checkSettings
            for link in settings.predictive == .nn ? [nil] : settings.links.map(Optional.some) {
                let row = Row(structure: s.structure, link: link)
                let prior: PriorPrecision
                switch settings.prior {
                case .marglik: prior = ml.maximisingPrior(settings.priorStructure)
                case .upstream: prior = ml.upstreamPrior(settings.priorStructure)
                case .grid: prior = .scalar(gridChoice[row]!)
                case .fixed(let δ): prior = .scalar(δ)
                }
                let edge = prior.values.filter(MarginalLikelihood.isAtSearchEdge).count
                // The marginal likelihood's prior is the same for every row of a structure: warned about once.
                if settings.prior == .marglik && edge > 0 && !rows.contains(where: { $0.structure == s.structure }) {
                    warnings.append(
                        "\(s.structure.rawValue): the marginal likelihood is maximised at the edge of the search "
                            + "for \(edge) of \(prior.values.count) prior values; the posterior is degenerate")
                }
                if settings.prior == .grid, let δ = prior.values.first,
                    δ == Self.priorGrid.first || δ == Self.priorGrid.last
                {
                    warnings.append(
                        "\(s.structure.rawValue) \(row.predictiveName): the grid's best prior precision \(δ) is at its "
                            + "edge")
                }
                rows.append(row)
                posteriors[row] = Posterior(
                    structure: s.structure, prior: prior, logMarginalLikelihood: ml.logMarginalLikelihood(prior: prior),
                    clippedEigenvalues: s.clippedEigenvalues)
            }
        }
        return Fitted(
            fit: fit, rows: rows, posteriors: posteriors, seconds: Date().timeIntervalSince(start), warnings: warnings)
    }

    func checkSettings(layout: LaplaceLayout, validation: (any TrainingObjective)?) throws {
        if case .fixed(let δ) = settings.prior, !(δ > 0 && δ.isFinite) {
            throw UsageError(file: "--prior-precision", item: "\(δ)", "the prior precision must be positive and finite")
        }
        if settings.prior == .grid {
            guard settings.predictive == .glm else {
                throw UsageError(
                    file: "--prior", item: "grid", "the grid search scores the GLM predictive; use marglik with nn")
            }
            guard let validation, validation.exampleCount > 0 else {
                throw UsageError(file: "--prior-split", item: "grid", "--prior grid needs held-out examples")
            }
            guard settings.priorStructure == .scalar else {
                throw UsageError(
                    file: "--prior-structure", item: "layerwise", "--prior grid searches a scalar prior precision")
            }
        }
        // Before the fit, not after it.
        if settings.priorStructure == .layerwise,
            let mixed = settings.fit.structures.first(where: { !$0.hasBlockDiagonalBasis })
        {
            throw UsageError(
                file: "--prior-structure", item: "layerwise",
                "the \(mixed.rawValue) structure's eigenbasis mixes θ's blocks; a layerwise prior goes with kron or diag"
            )
        }
        if let bad = layout.values.firstIndex(where: { !$0.isFinite }) {
            let block = layout.blocks.last { $0.offset <= bad }!
            throw UsageError(
                file: "adapter", item: "\(block.module) \(block.role.rawValue)",
                "holds NaN or infinite values; no posterior can be centred on it")
        }
    }

    /// laplace-torch's `gridsearch`: per structure and link, the grid's δ with the lowest NLL of the
    /// predictive on `validation`; one pass of Jacobians serves the whole grid.
    func gridSearch(
        _ fit: LaplaceFit, _ validation: any TrainingObjective, _ parameters: AdapterParameters,
        _ backend: any ComputeBackend, _ progress: (String, Int, Int) -> Void
    ) throws -> [Row: Double] {
        let grid = Self.priorGrid.map(PriorPrecision.scalar)
        var nll: [Row: [Double]] = [:]
        let total = validation.exampleCount
        progress("prior grid", 0, total)
        var done = 0
        try fit.predict(
            validation, indices: Array(0..<total), parameters: parameters,
            priors: fit.structures.map { _ in grid }, batchSize: settings.batchSize, backend: backend
        ) { batch in
            for p in batch {
                for (s, variances) in zip(fit.structures, p.variances) {
                    for link in settings.links {
                        let row = Row(structure: s.structure, link: link)
                        var sums = nll[row] ?? [Double](repeating: 0, count: grid.count)
                        for (g, variance) in variances.enumerated() {
                            let probs = link.probabilities(
                                mean: p.logits, variance: variance, samples: settings.samples,
                                seed: SplitMix64.stream(p.index, of: settings.seed).state)
                            sums[g] -= Foundation.log(max(probs[p.label], 1e-300))
                        }
                        nll[row] = sums
                    }
                }
            }
            done += batch.count
            progress("prior grid", done, total)
        }
        return nll.mapValues { sums in Self.priorGrid[sums.indices.min { sums[$0] < sums[$1] }!] }
    }

    /// The predictive of every row on `testObjective`'s examples; returns the seconds it took.
    /// `indices`: the test examples to predict (all by default; fewer when resuming).
    public func predict(
        _ fitted: Fitted, test testObjective: any TrainingObjective, indices: [Int]? = nil,
        parameters: AdapterParameters, backend: any ComputeBackend,
        progress: (_ phase: String, _ done: Int, _ total: Int) -> Void = { _, _, _ in },
        predictions: ([Prediction]) throws -> Void
    ) throws -> Double {
        let start = Date()
        let todo = indices ?? Array(0..<testObjective.exampleCount)
        let testCount = todo.count
        // Each structure is predicted with the distinct priors of its rows.
        let priors = fitted.fit.structures.map { s in
            var distinct: [PriorPrecision] = []
            for row in fitted.rows where row.structure == s.structure {
                let prior = fitted.posteriors[row]!.prior
                if !distinct.contains(prior) { distinct.append(prior) }
            }
            return distinct
        }
        progress("predict", 0, testCount)
        var done = 0
        try fitted.fit.predict(
            testObjective, indices: todo, parameters: parameters, priors: priors,
            batchSize: settings.batchSize, backend: backend
        ) { batch in
            try predictions(
                batch.map { p in
                    var laplace: [Row: [Double]] = [:]
                    for (s, structure) in fitted.fit.structures.enumerated() {
                        for row in fitted.rows where row.structure == structure.structure {
                            guard let link = row.link else { continue }
                            let variance = p.variances[s][priors[s].firstIndex(of: fitted.posteriors[row]!.prior)!]
                            laplace[row] = link.probabilities(
                                mean: p.logits, variance: variance, samples: settings.samples,
                                seed: SplitMix64.stream(p.index, of: settings.seed).state)
                        }
                    }
                    return Prediction(index: p.index, label: p.label, map: GLMLink.softmax(p.logits), laplace: laplace)
                })
            done += batch.count
            progress("predict", done, testCount)
        }
        return Date().timeIntervalSince(start)
    }
}

extension LaplaceProcedure {
    /// The most memory the NN predictive's kept weight draws may take.
    public static let maximumDrawBytes = 8e9

    /// laplace-torch's `pred_type="nn"`: the mean of the softmax over `settings.samples` weight draws
    /// θ_k = θ_MAP + U·z_k/√(λ + δ) of each structure's posterior (correlated within each block of a
    /// Kronecker structure, across all of θ for full), every test example under the same draws. z_k is
    /// seeded by (seed, k) and shared by the structures. The draws are made once and kept (samples × P
    /// floats per structure); each batch then runs one forward pass per draw, so predictions are written
    /// batch by batch. The adapter's MAP values are restored afterwards.
    public func predictSampled(
        _ fitted: Fitted, test testObjective: any TrainingObjective, indices: [Int]? = nil,
        parameters: AdapterParameters,
        progress: (_ phase: String, _ done: Int, _ total: Int) -> Void = { _, _, _ in },
        predictions: ([Prediction]) throws -> Void
    ) throws -> Double {
        let start = Date()
        let layout = fitted.fit.layout, P = layout.parameterCount
        let rows = fitted.rows.filter { $0.link == nil }
        let bytes = Double(settings.samples) * Double(P) * Double(rows.count + 1) * 4
        guard bytes <= Self.maximumDrawBytes else {
            throw UsageError(
                file: "--samples", item: "\(settings.samples)",
                String(
                    format:
                        "%d weight samples of %d parameters for %d structure(s) would hold %.1f GB; at most %.0f GB",
                    settings.samples, P, rows.count, bytes / 1e9, Self.maximumDrawBytes / 1e9))
        }
        let normals = (0..<settings.samples).map { k -> [Float] in
            var rng = SplitMix64.stream(k, of: settings.seed)
            var z = [Float](repeating: 0, count: P)
            StandardNormal.fill(&z, &rng)
            return z
        }
        let draws = rows.map { row -> [[Float]] in
            let structure = fitted.fit.structures.first { $0.structure == row.structure }!
            let prior = fitted.posteriors[row]!.prior
            return normals.map { structure.sample(mean: layout.values, prior: prior, normals: $0) }
        }
        defer { layout.write(layout.values, into: parameters) }
        let todo = indices ?? Array(0..<testObjective.exampleCount)
        let total = todo.count
        progress("predict", 0, total)
        for begin in stride(from: 0, to: total, by: max(1, settings.batchSize)) {
            let batch = Array(todo[begin..<min(total, begin + settings.batchSize)])
            layout.write(layout.values, into: parameters)
            let (logits, labels) = testObjective.choiceLogits(batch)
            var sums = rows.map { _ in logits.map { [Double](repeating: 0, count: $0.count) } }
            for (r, rowDraws) in draws.enumerated() {
                for theta in rowDraws {
                    layout.write(theta, into: parameters)
                    let sampled = testObjective.choiceLogits(batch).logits
                    for (n, z) in sampled.enumerated() {
                        guard z.allSatisfy(\.isFinite) else {
                            throw UsageError(
                                file: "test split", item: "example \(batch[n])",
                                "its logits under a weight sample are NaN or infinite")
                        }
                        let p = LogitGradients.softmax(z.map(Double.init))
                        for c in p.indices { sums[r][n][c] += p[c] / Double(draws[r].count) }
                    }
                }
            }
            try predictions(
                batch.enumerated().map { n, index in
                    Prediction(
                        index: index, label: labels[n], map: GLMLink.softmax(logits[n].map(Double.init)),
                        laplace: Dictionary(uniqueKeysWithValues: rows.enumerated().map { ($1, sums[$0][n]) }))
                })
            progress("predict", begin + batch.count, total)
        }
        return Date().timeIntervalSince(start)
    }
}
