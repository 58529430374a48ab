/// bayeval's own prompts for the GLUE tasks (bayesian-peft has none for decoders in its MC path). Each is
/// a two-way multiple choice in the same shape as the bayesian-peft MC prompt, e.g. SST-2:
///
///     Classify the sentiment of the sentence below.
///
///     Sentence: {sentence}
///     Choices:
///     A) negative
///     B) positive
///     Answer:
///
/// Choice A is label 0 and B label 1 in every task, so the answer index equals the GLUE label.
public enum GLUEPrompts {
    public struct Template: Sendable, Equatable {
        public let instruction: String
        public let textField: String
        public let pairField: String?
        /// Label names as shown in the choices, index = label.
        public let choiceNames: [String]
    }

    /// The template of a GLUE task; nil for BoolQ and the multiple-choice tasks, which have their own prompts.
    public static func template(_ task: TaskName) -> Template? {
        switch task {
        case .sst2:
            Template(
                instruction: "Classify the sentiment of the sentence below.", textField: "Sentence",
                pairField: nil, choiceNames: ["negative", "positive"])
        case .cola:
            Template(
                instruction: "Decide whether the sentence below is grammatically acceptable English.",
                textField: "Sentence", pairField: nil, choiceNames: ["unacceptable", "acceptable"])
        case .mrpc:
            Template(
                instruction: "Decide whether the two sentences below are paraphrases of each other.",
                textField: "Sentence 1", pairField: "Sentence 2",
                choiceNames: ["not equivalent", "equivalent"])
        case .rte:
            Template(
                instruction: "Decide whether the premise below entails the hypothesis.",
                textField: "Premise", pairField: "Hypothesis", choiceNames: ["entailment", "not entailment"])
        case .boolQ, .arcChallenge, .arcEasy, .openBookQA, .winoGrande:
            nil
        }
    }
}

/// The input of an encoder classifier (RoBERTa-style): one text or a text pair, joined by the tokenizer.
public struct EncoderInput: Sendable, Equatable {
    public let text: String
    public let pair: String?
    public let label: Int

    /// Classification tasks: the example's own text / pair (BoolQ: question, passage). Multiple-choice tasks:
    /// the single text bayesian-peft's RoBERTa path and Laplace-LoRA use, "Select one of the choices that
    /// answers the following question: {q} Choices: A. t1 B. t2 … Answer:" (positional letters).
    public init(_ example: Example) {
        switch example {
        case .classification(let c):
            text = c.text
            pair = c.pair
            label = c.label
        case .multipleChoice(let m):
            let choices = m.choices.indices.map { "\(PromptBuilder.letter($0)). \(m.choices[$0])" }
            text =
                "Select one of the choices that answers the following question: \(m.question) Choices: "
                + choices.joined(separator: " ") + " Answer:"
            pair = nil
            label = m.answerIndex
        }
    }
}
