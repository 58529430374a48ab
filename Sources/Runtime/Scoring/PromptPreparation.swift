import Loaders

/// One example ready for the scorer: prompt tokens, the token of each answer as it follows the prompt,
/// and the label.
public struct PreparedExample: Sendable, Equatable {
    public let id: String
    public let label: Int
    public let tokens: [Int]
    public let answerTokens: [Int]
}

/// Turns dataset examples into token sequences with the model's own tokenizer, and checks everything that
/// would otherwise give a silently wrong metric: answers that collapse onto one token, prompts longer than
/// the context, ids outside the model's vocabulary.
public struct PromptPreparation {
    public let tokenizer: any Tokenizer
    public let task: TaskName
    public let options: PromptOptions
    public let contextLength: Int
    public let vocabularySize: Int
    /// Answer strings whose continuation token had to be found by tokenizing them alone (upstream's rule)
    /// because the prompt and answer merged into other tokens.
    public private(set) var fallbackAnswers: Set<String> = []
    private var answerCache: [AnswerKey: Int] = [:]

    struct AnswerKey: Hashable { let lastToken: Int; let answer: String }

    public init(
        tokenizer: any Tokenizer, task: TaskName, options: PromptOptions, contextLength: Int, vocabularySize: Int
    ) {
        self.tokenizer = tokenizer
        self.task = task
        self.options = options
        self.contextLength = contextLength
        self.vocabularySize = vocabularySize
    }

    /// The longest token prefix every example shares (at least one token of each left to run), so the
    /// cached header covers "…\n\nQuestion:" and not only the instruction. Computed on tokens, it is exact
    /// whatever the tokenizer does at the boundary.
    public static func commonPrefix(of examples: [PreparedExample]) -> [Int] {
        guard var prefix = examples.first?.tokens else { return [] }
        for e in examples.dropFirst() {
            var n = 0
            while n < prefix.count, n < e.tokens.count, prefix[n] == e.tokens[n] { n += 1 }
            prefix.removeLast(prefix.count - n)
            if prefix.isEmpty { break }
        }
        let shortest = examples.map(\.tokens.count).min() ?? 0
        if prefix.count >= shortest { prefix.removeLast(prefix.count - max(0, shortest - 1)) }
        return prefix
    }

    /// Prompts in the dataset's own task's format: a posterior searched or fitted on one task and tested
    /// on another (bayesian-peft's OOD runs: OBQA anchors, ARC tests) prepares both with one tokenizer.
    public mutating func prepare(_ dataset: Dataset) throws -> [PreparedExample] {
        let file = dataset.files.first ?? dataset.task.rawValue
        return try dataset.examples.map { try prepare($0, task: dataset.task, file: file) }
    }

    mutating func prepare(_ example: Example, task: TaskName, file: String) throws -> PreparedExample {
        let prompt = PromptBuilder.prompt(for: example, task: task, options: options)
        var tokens = tokenizer.encode(prompt.text, pair: nil, addSpecialTokens: true)
        // A post-processor that appends EOS would put it between the prompt and the scored answer.
        if let eos = tokenizer.specialTokens.eos, tokens.last == eos { tokens.removeLast() }
        guard !tokens.isEmpty else {
            throw UsageError(file: file, item: example.id, "the prompt tokenizes to nothing")
        }
        guard tokens.count < contextLength else {
            throw UsageError(
                file: file, item: example.id,
                "the prompt is \(tokens.count) tokens, longer than the model's context of \(contextLength)")
        }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw UsageError(
                file: file, item: example.id,
                "token id \(bad) is outside the model's vocabulary of \(vocabularySize): "
                    + "tokenizer and model do not match"
            )
        }
        let plain =
            tokens.last == tokenizer.specialTokens.eos
            ? tokens : tokenizer.encode(prompt.text, pair: nil, addSpecialTokens: false)
        var answers: [Int] = []
        for a in prompt.answers {
            answers.append(
                try answerToken(promptText: prompt.text, promptTokens: plain, answer: a, file: file, id: example.id))
        }
        guard Set(answers).count == answers.count else {
            throw UsageError(
                file: file, item: example.id,
                "answers \(prompt.answers) do not map to distinct tokens (\(answers)): "
                    + "the labels do not fit this tokenizer; try --answer-prefix"
            )
        }
        return PreparedExample(id: example.id, label: prompt.label, tokens: tokens, answerTokens: answers)
    }

    /// The first token the answer adds after the prompt, found by tokenizing prompt + answer (so " A" after
    /// "Answer:" gives the token a byte-level BPE really produces there). Cached per final prompt token.
    mutating func answerToken(
        promptText: String, promptTokens: [Int], answer: String, file: String, id: String
    ) throws -> Int {
        let key = AnswerKey(lastToken: promptTokens.last ?? -1, answer: answer)
        if let t = answerCache[key] { return t }
        let full = tokenizer.encode(promptText + answer, pair: nil, addSpecialTokens: false)
        var token: Int
        if full.count > promptTokens.count, full.starts(with: promptTokens) {
            token = full[promptTokens.count]
        } else {
            fallbackAnswers.insert(answer)
            guard let last = tokenizer.encode(answer, pair: nil, addSpecialTokens: false).last else {
                throw UsageError(file: file, item: id, "answer '\(answer)' tokenizes to nothing")
            }
            token = last
        }
        guard token >= 0, token < vocabularySize else {
            throw UsageError(
                file: file, item: id,
                "answer '\(answer)' maps to token \(token), outside the model's vocabulary")
        }
        answerCache[key] = token
        return token
    }
}
