import Loaders

/// What every model family offers the post-hoc methods, so TFB, BLoB, Laplace and the Monte Carlo
/// predictive are written once: adapters on and off, the linear layers their patches live on (where a
/// posterior's sampler goes), and the adapter's trainable parameters for curvature passes.
public protocol AdaptedModel: AnyObject {
    /// `model_type` of the config (llama, qwen2, bert, …), for messages.
    var architecture: String { get }
    var backend: any ComputeBackend { get }
    /// Puts the adapter's patches (and saved modules) on the model; refuses it whole or applies it whole.
    func attach(_ adapter: LoRAAdapter) throws
    /// Throws exactly what `attach` would, and changes nothing.
    func checkAttachable(_ adapter: LoRAAdapter) throws
    func detachAdapters()
    func mergeAdapters()
    /// The linear layer holding a PEFT module path, with the module's first output column and width.
    func linear(forModule module: String) -> (Linear, offset: Int, width: Int)?
    var allLinears: [Linear] { get }
    /// The trainable parameters of an attached adapter, with gradient buffers; `trainingBases`: a
    /// LoRA-XS layer's A₀ and B train with its core.
    func adapterParameters(_ adapter: LoRAAdapter, trainingBases: Bool) throws -> AdapterParameters
}

extension AdaptedModel {
    public func adapterParameters(_ adapter: LoRAAdapter) throws -> AdapterParameters {
        try adapterParameters(adapter, trainingBases: false)
    }
}

extension AdaptedModel {
    /// The linear layer and index of the patch an attached adapter put on `module` (the last one, when
    /// several adapters are stacked); nil when the module has none.
    public func patch(forModule module: String) -> (linear: Linear, index: Int)? {
        guard let (linear, offset, _) = linear(forModule: module),
            let index = linear.patches.lastIndex(where: { $0.outputOffset == offset })
        else { return nil }
        return (linear, index)
    }
}

/// A model that answers classification examples with one logit per choice, optionally under weight
/// samples: the decoder's prompted multiple choice (the answer tokens' logits), an encoder's head.
public protocol ChoiceModel: AdaptedModel {
    associatedtype Example
    /// Cost of an example, to batch similar ones together (its token count).
    func length(of example: Example) -> Int
    /// The choice logits of each example. With `noise` (one seed per example), example i runs under the
    /// weight sample its patches' samplers draw from noise.seeds[i]; without, the patches' means.
    func choiceLogits(_ examples: [Example], noise: SequenceNoise?) -> [[Float]]
}

extension LlamaModel: ChoiceModel {
    public var architecture: String { config.modelType }

    public func length(of example: PreparedExample) -> Int { example.tokens.count }

    /// One packed pass over the prompts; the head computes only the union of their answer rows.
    public func choiceLogits(_ examples: [PreparedExample], noise: SequenceNoise?) -> [[Float]] {
        let answers = AnswerColumns(examples.lazy.map(\.answerTokens))
        let logits = forward(
            PackedBatch(examples.map(\.tokens)), output: .lastPositionLogits(ids: answers.ids), noise: noise)
        return examples.enumerated().map { i, e in answers.logits(logits, row: i, answers: e.answerTokens) }
    }
}

extension BertModel: ChoiceModel {
    public var architecture: String { config.modelType }

    public func length(of example: EncoderEvaluation.Prepared) -> Int { example.tokens.count }

    /// One packed pass; the head's logits of each sequence.
    public func choiceLogits(_ examples: [EncoderEvaluation.Prepared], noise: SequenceNoise?) -> [[Float]] {
        let logits = classify(examples.map(\.tokens), tokenTypes: examples.map(\.types), noise: noise)
        let k = logits.columns
        return examples.indices.map { Array(logits.storage[($0 * k)..<(($0 + 1) * k)]) }
    }
}

/// An example a run records a prediction for: its id and label, and its tokens (its cost).
public protocol LabelledExample: Sendable {
    var id: String { get }
    var label: Int { get }
    var tokens: [Int] { get }
}

extension PreparedExample: LabelledExample {}
extension EncoderEvaluation.Prepared: LabelledExample {}
