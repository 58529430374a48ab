import Runtime

/// The TFB procedure, as `bayeval tfb` runs it on a decoder or an encoder: the posterior's predictions
/// (deterministic, or Monte Carlo at a σ) and the σ search on anchor examples. Seeds follow each example's
/// position in the list it is given, so a rerun with the same seed reproduces every sample.
public struct TFBProcedure<Model: ChoiceModel> {
    public let posterior: TFBPosterior
    public let model: Model
    /// Weight samples per prediction; 0: the mean prediction.
    public let samples: Int
    public let seed: UInt64
    /// Sequences per forward pass.
    public let batchSize: Int
    /// bayesian-peft's Flipout noise, one E per this many examples (its batch); nil: real weight samples.
    public let flipoutExamplesPerCall: Int?

    /// Probabilities without weight samples (the patches' means), as the model's deterministic scoring
    /// batches them.
    public let deterministic: ([Model.Example]) -> [[Double]?]

    public init(
        posterior: TFBPosterior, model: Model, samples: Int, seed: UInt64, batchSize: Int,
        flipoutExamplesPerCall: Int? = nil, deterministic: @escaping ([Model.Example]) -> [[Double]?]
    ) {
        self.posterior = posterior
        self.model = model
        self.samples = samples
        self.seed = seed
        self.batchSize = batchSize
        self.flipoutExamplesPerCall = flipoutExamplesPerCall
        self.deterministic = deterministic
    }

    /// The Monte Carlo predictive at σ (the mean prediction when `samples` is 0).
    public func predictive(
        _ examples: [Model.Example], sigma: Double, progress: (Int) -> Void = { _ in }
    )
        -> [[Double]?]
    {
        posterior.setSigma(sigma)
        guard samples > 0 else { return deterministic(examples) }
        let mc = MonteCarloPredictive(
            model: model, samples: samples, seed: seed, sequencesPerBatch: batchSize,
            flipoutExamplesPerCall: flipoutExamplesPerCall)
        return mc.probabilities(examples, indices: Array(examples.indices), progress: progress)
    }

    /// Bisects σ on the anchors against the deterministic predictions, then leaves the posterior at the
    /// σ found. `progress(σ)` gives the per-example progress callback of each candidate's pass.
    public func search(
        anchors: [Model.Example], settings: TFBSearchSettings, report: (SigmaSearch.Step) -> Void = { _ in },
        progress: (Double) -> (Int) -> Void = { _ in { _ in } }
    ) -> SigmaSearch.Result {
        let reference = deterministic(anchors).map { $0 ?? [] }
        let criterion = AnchorCriterion(kind: settings.criterion, reference: reference, upstream: settings.upstream)
        let result = settings.search.run(
            { sigma in criterion.value(predictive(anchors, sigma: sigma, progress: progress(sigma))) }, report: report)
        posterior.setSigma(result.sigma)
        return result
    }
}

extension TFBProcedure where Model == LlamaModel {
    /// On a decoder: the mean prediction with the shared prompt header cached.
    public init(
        posterior: TFBPosterior, model: LlamaModel, samples: Int, seed: UInt64, batchSize: Int,
        flipoutExamplesPerCall: Int? = nil
    ) {
        self.init(
            posterior: posterior, model: model, samples: samples, seed: seed, batchSize: batchSize,
            flipoutExamplesPerCall: flipoutExamplesPerCall
        ) {
            examples in
            let scorer = ChoiceScorer(
                model: model, sharedPrefix: PromptPreparation.commonPrefix(of: examples), maxSequences: batchSize)
            return scorer.score(examples.map { ChoiceScorer.Request(tokens: $0.tokens, answerTokens: $0.answerTokens) })
                .map(DecoderEvaluation.softmax)
        }
    }
}

extension TFBProcedure where Model == BertModel {
    /// On an encoder: the mean prediction batched as `evaluate` batches it.
    public init(
        posterior: TFBPosterior, model: BertModel, samples: Int, seed: UInt64, batchSize: Int,
        flipoutExamplesPerCall: Int? = nil
    ) {
        self.init(
            posterior: posterior, model: model, samples: samples, seed: seed, batchSize: batchSize,
            flipoutExamplesPerCall: flipoutExamplesPerCall
        ) {
            EncoderEvaluation.probabilities(model: model, $0, batchSize: batchSize)
        }
    }
}

/// The σ search's settings; nil fields take the defaults of the chosen rule.
public struct TFBSearchSettings: Sendable {
    public var criterion: AnchorCriterion.Kind
    /// ε; default 0.01, or bayesian-peft's 0.003 for nll under `upstream`.
    public var tolerance: Double?
    /// bayesian-peft's search exactly (its NLL scaling and its returned σ; see `SigmaSearch.Rule`).
    public var upstream: Bool
    public var minimum: Double
    public var maximum: Double
    public var steps: Int

    public init(
        criterion: AnchorCriterion.Kind, tolerance: Double?, upstream: Bool, minimum: Double,
        maximum: Double, steps: Int
    ) {
        self.criterion = criterion; self.tolerance = tolerance; self.upstream = upstream
        self.minimum = minimum; self.maximum = maximum; self.steps = steps
    }

    public var effectiveTolerance: Double { tolerance ?? (upstream && criterion == .nll ? 0.003 : 0.01) }

    public var search: SigmaSearch {
        SigmaSearch(
            minimum: minimum, maximum: maximum, steps: steps, tolerance: effectiveTolerance,
            rule: upstream ? .upstream : .largestAccepted,
            // bayesian-peft's accuracy variant also stops on a narrow bracket.
            minimumWidth: upstream && criterion == .flip ? 5e-4 : 0, bracket: upstream ? .fixed : .expanding)
    }
}
