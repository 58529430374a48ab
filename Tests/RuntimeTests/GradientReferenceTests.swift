import Foundation
import Loaders
import Testing
@testable import Runtime
import RuntimeCPU

/// Loss and gradients against PyTorch autograd (transformers + peft; scripts/make_gradient_fixtures.py):
/// every trainable tensor of every case within 1e-3 relative to that tensor's largest reference entry.
@Suite struct GradientReferenceTests {
    let backend = CPUBackend(threads: 2)
    static let cases = [
        "tiny-llama3", "tiny-llama3-header", "tiny-qwen2", "tiny-qwen2-header", "tiny-llama-linear",
        "tiny-llama-linear-header", "tiny-bert", "tiny-roberta-cls", "tiny-llama3-loraxs",
    ]

    func rows(_ v: JSONValue?) -> [[Int]] { (v?.array ?? []).map(ints) }

    @Test(arguments: cases) func gradientsMatchAutograd(_ name: String) throws {
        let ref = try JSONValue.parse(file: fixture("gradients/\(name).json"))
        let kind = ref["kind"]?.string, modelDir = packageRoot.appendingPathComponent(ref["model"]!.string!).path
        let adapterDir = packageRoot.appendingPathComponent(ref["adapter"]!.string!).path
        let labels = ints(ref["labels"]), sequences = rows(ref["sequences"])
        let params: AdapterParameters
        let loss: Double, logits: [[Float]]
        if kind == "decoder" {
            let loaded = try ModelLoader.loadDecoder(path: modelDir, backend: backend)
            let adapter = try LoRAAdapter.load(directory: adapterDir, baseShapes: loaded.parameterShapes)
            let m = loaded.model
            try m.attach(adapter)
            params = try m.adapterParameters(adapter)
            let header = ints(ref["header"])
            // The fixture runs header + own tokens as one sequence; bayeval runs the header once for all.
            let tails = sequences.map { s -> [Int] in
                #expect(s.starts(with: header))
                return Array(s.dropFirst(header.count))
            }
            let ids = Array(repeating: ints(ref["answer_ids"]), count: sequences.count)
            params.zeroGradients()
            let tape = m.trainingForward(header: header, sequences: tails)
            logits = m.choiceLogits(tape, answerIDs: ids)
            let (l, g) = LogitGradients.crossEntropy(logits: logits, labels: labels)
            loss = l
            m.backward(tape, answerIDs: ids, logitGradients: g, context: params.context())
        } else {
            let loaded = try ModelLoader.loadEncoder(path: modelDir, backend: backend)
            let adapter = try LoRAAdapter.load(directory: adapterDir, baseShapes: loaded.parameterShapes)
            let m = loaded.model
            try m.attach(adapter)
            params = try m.adapterParameters(adapter)
            params.zeroGradients()
            let tape = m.trainingForward(sequences, tokenTypes: rows(ref["token_types"]))
            let c = tape.logits.columns
            logits = (0..<sequences.count).map { Array(tape.logits.values[($0 * c)..<(($0 + 1) * c)]) }
            let (l, g) = LogitGradients.crossEntropy(logits: logits, labels: labels)
            loss = l
            m.backward(
                tape, logitGradients: Tensor(shape: tape.logits.shape, values: g.flatMap { $0 }),
                context: params.context())
        }
        params.finishGradients()
        expectClose(logits.flatMap { $0 }, doubles(ref["logits"]), tolerance: 1e-4, "\(name) logits")
        #expect(abs(loss - ref["loss"]!.double!) <= 1e-4 * max(1, abs(ref["loss"]!.double!)), "\(name) loss \(loss)")

        let want = ref["gradients"]?.object ?? [:]
        let got = Dictionary(uniqueKeysWithValues: params.parameters.map { ($0.key, $0.gradient.values) })
        #expect(
            Set(got.keys) == Set(want.keys),
            "\(name): trainable keys differ: \(Set(got.keys).symmetricDifference(want.keys).sorted())")
        for (key, entry) in want {
            guard let g = got[key] else { continue }
            let r = doubles(entry["values"])
            #expect(g.count == r.count, "\(key): \(g.count) values vs \(r.count)")
            let scale = r.map(abs).max() ?? 0
            let worst = zip(g, r).map { abs(Double($0) - $1) }.max() ?? 0
            #expect(scale > 0 && worst <= 1e-3 * scale, "\(name) \(key): max |Δ| \(worst) against max |ref| \(scale)")
        }
    }
}
