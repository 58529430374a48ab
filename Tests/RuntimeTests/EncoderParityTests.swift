import Foundation
import Loaders
import Testing
import TestModels
@testable import Runtime
import RuntimeCPU

/// BERT / RoBERTa sequence classification against transformers + peft (scripts/make_runtime_fixtures.py):
/// logits within 1e-4 relative (|a − b| ≤ 1e-4 · max(1, |b|)) for the base model, with the adapter applied
/// on the fly and merged, and the first sequence's last hidden state.
@Suite struct EncoderParityTests {
    let backend = CPUBackend(threads: 2)

    // Helpers are members (not globals) so they cannot collide with other test files' helpers.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static func model(_ name: String) -> String { root.appendingPathComponent("fixtures/models/" + name).path }

    func reference(_ name: String) throws -> JSONValue {
        try JSONValue.parse(file: Self.model(name + "-reference.json"))
    }

    static func numbers(_ v: JSONValue?) -> [Double] {
        guard let a = v?.array else { return [] }
        if a.first?.array != nil { return a.flatMap { numbers($0) } }
        return a.compactMap(\.double)
    }

    static func integers(_ v: JSONValue?) -> [Int] { v?.array?.compactMap(\.int) ?? [] }

    /// Worst |a − b| / max(1, |b|), after checking the counts agree; printed for the parity report.
    @discardableResult
    static func check(
        _ a: [Float], _ b: [Double], _ what: String, tolerance: Double = 1e-4,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Double {
        #expect(
            a.count == b.count && !b.isEmpty, "\(what): \(a.count) values vs \(b.count)", sourceLocation: sourceLocation
        )
        var worst = 0.0
        for (x, y) in zip(a, b) {
            let err = abs(Double(x) - y) / max(1, abs(y))
            if !(err <= worst) { worst = err }  // NaN propagates as a failure
        }
        #expect(worst <= tolerance, "\(what): max relative error \(worst)", sourceLocation: sourceLocation)
        print("encoder parity \(what): max relative error \(worst)")
        return worst
    }

    func sequences(_ ref: JSONValue) -> [[Int]] { (ref["sequences"]?.array ?? []).map(Self.integers) }

    /// The reference batch's token types, cut to each sequence's real length (the batch is right-padded).
    func tokenTypes(_ ref: JSONValue) -> [[Int]]? {
        guard let rows = ref["batch"]?["token_type_ids"]?.array else { return nil }
        return zip(rows, sequences(ref)).map { Array(Self.integers($0).prefix($1.count)) }
    }

    func load(_ name: String) throws -> ModelLoader.LoadedEncoder {
        try ModelLoader.loadEncoder(path: Self.model(name), backend: backend)
    }

    /// The same checkpoint with some tensors hidden, as a base that lacks (part of) the head.
    func loadWithout(_ name: String, _ hidden: (String) -> Bool) throws -> BertModel {
        let dir = Self.model(name)
        guard case .encoder(let config) = try ModelConfig.load(directory: dir) else {
            throw LoadError(.unsupported, file: dir, item: "model_type", "not an encoder")
        }
        let ckpt = try SafeTensorsCheckpoint(directory: dir)
        return try BertModel(config: config, backend: backend, source: dir) { n in
            guard !hidden(n), let info = ckpt.info(n) else { return nil }
            return Tensor(shape: info.shape, values: try ckpt.floats(n))
        }
    }

    @Test(arguments: ["tiny-bert", "tiny-roberta-cls"]) func baseLogitsAndHiddenState(_ name: String) throws {
        let ref = try reference(name)
        let m = try load(name).model
        let seqs = sequences(ref), types = tokenTypes(ref)
        #expect(m.hasClassificationHead)
        #expect(m.labelCount == ref["base"]?["logits"]?.array?.first?.array?.count)
        let logits = m.classify(seqs, tokenTypes: types)
        #expect(logits.shape == [seqs.count, m.labelCount ?? 0])
        Self.check(logits.values, Self.numbers(ref["base"]?["logits"]), "\(name) base logits")

        let hidden = m.hiddenStates(seqs, tokenTypes: types)
        #expect(hidden.shape == [seqs.map(\.count).reduce(0, +), m.config.hiddenSize])
        let firstRows = Array(hidden.values.prefix(seqs[0].count * m.config.hiddenSize))
        Self.check(
            firstRows, Self.numbers(ref["base"]?["first_sequence_last_hidden_state"]), "\(name) first last-hidden-state"
        )

        // Packing must keep sequences apart: each alone gives its row of the batch.
        for (i, s) in seqs.enumerated() {
            let alone = m.classify([s], tokenTypes: types.map { [$0[i]] })
            Self.check(
                alone.values, logits.values.map(Double.init).encoderRows(logits.columns)[i],
                "\(name) sequence \(i) alone vs packed",
                tolerance: 1e-5)
        }
    }

    @Test func tokenTypesMatterForBert() throws {
        let ref = try reference("tiny-bert")
        let m = try load("tiny-bert").model
        let seqs = sequences(ref)
        // The third sequence is a pair (types 0…0 1…1); dropping its types must change its logits, or
        // the token-type embedding is not being read.
        let zeros = m.classify([seqs[2]]).values
        let want = Self.numbers(ref["base"]?["logits"]?.array?[2])
        let gap = zip(zeros, want).map { abs(Double($0) - $1) }.max() ?? 0
        #expect(gap > 1e-3, "token types changed the logits by only \(gap)")
    }

    @Test func robertaPositionIDs() throws {
        let ref = try reference("tiny-roberta-cls")
        let m = try load("tiny-roberta-cls").model
        for (s, row) in zip(sequences(ref), ref["position_ids"]?.array ?? []) {
            #expect(m.positionIDs(s) == Array(Self.integers(row).prefix(s.count)))
        }
        // A padding id inside a sequence gets padding_idx and is not counted (transformers' cumsum rule).
        let pad = m.config.padTokenID
        #expect(m.positionIDs([0, 5, pad, 6]) == [pad + 1, pad + 2, pad, pad + 3])
        #expect(m.maxSequenceLength == m.config.maxPositions - pad - 1)
    }

    @Test(arguments: ["tiny-bert", "tiny-roberta-cls"]) func adapterAppliedDetachedAndMerged(_ name: String) throws {
        let ref = try reference(name)
        let loaded = try load(name)
        let adapter = try LoRAAdapter.load(directory: Self.model(name + "-adapter"), baseShapes: loaded.parameterShapes)
        let m = loaded.model
        let seqs = sequences(ref), types = tokenTypes(ref)
        let baseHead = m.classifier
        try m.attach(adapter)
        // The adapter's saved head replaces the base one (the fixture perturbed it, so keeping the base
        // head would miss the reference).
        #expect(m.classifier !== baseHead)
        Self.check(
            m.classify(seqs, tokenTypes: types).values, Self.numbers(ref["adapter_applied"]?["logits"]),
            "\(name) adapter logits")

        m.detachAdapters()
        #expect(m.classifier === baseHead)
        #expect(m.allLinears.allSatisfy { $0.patches.isEmpty })
        Self.check(
            m.classify(seqs, tokenTypes: types).values, Self.numbers(ref["base"]?["logits"]),
            "\(name) base after detach")

        try m.attach(adapter)
        m.mergeAdapters()
        #expect(m.allLinears.allSatisfy { $0.patches.isEmpty })
        let merged = ref["merged"] ?? ref["adapter_applied"]
        Self.check(m.classify(seqs, tokenTypes: types).values, Self.numbers(merged?["logits"]), "\(name) merged logits")
    }

    @Test func adapterSuppliesTheHeadOfAHeadlessBase() throws {
        let ref = try reference("tiny-bert")
        // Without the label projection, the base cannot classify; the adapter's saved classifier completes it.
        let m = try loadWithout("tiny-bert") { $0.hasPrefix("classifier.") }
        #expect(!m.hasClassificationHead)
        #expect(m.labelCount == nil)
        let adapter = try LoRAAdapter.load(directory: Self.model("tiny-bert-adapter"))
        try m.attach(adapter)
        #expect(m.hasClassificationHead)
        Self.check(
            m.classify(sequences(ref), tokenTypes: tokenTypes(ref)).values,
            Self.numbers(ref["adapter_applied"]?["logits"]), "tiny-bert headless base + adapter logits")
        m.detachAdapters()
        #expect(!m.hasClassificationHead)

        // Without the pooler too, the adapter's LoRA on bert.pooler.dense has nowhere to go: refused,
        // and the refused adapter leaves nothing behind.
        let bare = try loadWithout("tiny-bert") { $0.hasPrefix("classifier.") || $0.contains("pooler") }
        #expect(throws: LoadError.self) { try bare.attach(adapter) }
        #expect(!bare.hasClassificationHead)
        #expect(bare.allLinears.allSatisfy { $0.patches.isEmpty })
    }

    @Test func adapterForAnotherArchitectureIsRefused() throws {
        let roberta = try load("tiny-roberta-cls").model
        let bertAdapter = try LoRAAdapter.load(directory: Self.model("tiny-bert-adapter"))
        #expect(throws: LoadError.self) { try roberta.attach(bertAdapter) }
        #expect(roberta.allLinears.allSatisfy { $0.patches.isEmpty })
    }

    @Test func decoderDirectoryIsRefused() throws {
        #expect(throws: LoadError.self) {
            try ModelLoader.loadEncoder(path: Self.model("tiny-llama3"), backend: backend)
        }
    }

    /// all-MiniLM-L6-v2, a bare BERT backbone (keys `embeddings.…`, pooler, no classifier).
    @Test(.enabled(if: RealModels.miniLMEnabled, Comment(rawValue: RealModels.miniLMNote)))
    func allMiniLMHiddenStates() throws {
        let dir = RealModels.miniLM
        let m = try ModelLoader.loadEncoder(path: dir, backend: backend).model
        #expect(m.prefix == "")
        #expect(!m.hasClassificationHead)
        #expect(m.pooler != nil && m.classifier == nil)
        // "The quick brown fox jumps over the lazy dog." through the model's tokenizer.json (tokenizers,
        // padding and truncation off): [CLS] … [SEP].
        let ids = [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102]
        let hidden = m.hiddenStates([ids])
        #expect(hidden.shape == [ids.count, 384])
        #expect(hidden.values.allSatisfy { $0.isFinite })
        // Made with transformers 5.23.0: BertModel.from_pretrained(dir, attn_implementation="eager"), float32,
        // last_hidden_state[0, 0, :5] (the [CLS] row) and [0, -1, :5] (the [SEP] row).
        let cls: [Double] = [
            0.04644400626420975, 0.3380618095397949, 0.20820532739162445, 0.6467972993850708,
            -0.1957094371318817,
        ]
        let sep: [Double] = [
            0.3477138876914978, 0.0940036028623581, 0.2563757598400116, 0.871071994304657,
            -0.07452841103076935,
        ]
        let last = (ids.count - 1) * 384
        Self.check(Array(hidden.values[0..<5]), cls, "all-MiniLM-L6-v2 [CLS] hidden state")
        Self.check(Array(hidden.values[last..<(last + 5)]), sep, "all-MiniLM-L6-v2 [SEP] hidden state")
    }
}

private extension Array {
    func encoderRows(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
