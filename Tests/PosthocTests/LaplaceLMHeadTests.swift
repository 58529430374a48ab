import Foundation
import Loaders
import Testing
@testable import Posthoc
@testable import Runtime
import RuntimeCPU

/// `--subset lm-head`: θ holds lm_head's lora_A and the answer rows of its lora_B, in the order given
/// (here not sorted, so an ordering slip shows), and a weight sample written into the model touches only
/// those rows. (Its posterior against laplace-torch: `LaplaceParityTests`, case tiny-llama3-lm-head.)
@Suite struct LaplaceLMHeadTests {
    let backend = CPUBackend(threads: 2)
    let rows = [30, 10, 40, 20]

    func setup() throws -> (LlamaModel, AdapterParameters, DecoderObjective) {
        let loaded = try ModelLoader.loadDecoder(path: fixture("models/tiny-llama3"), backend: backend)
        let adapter = try LoRAAdapter.load(
            directory: fixture("models/tiny-llama3-adapter"), baseShapes: loaded.parameterShapes)
        try loaded.model.attach(adapter)
        let examples = [[5, 9, 77, 3], [100, 4, 8]].enumerated().map {
            PreparedExample(id: "\($0)", label: $0, tokens: $1, answerTokens: rows)
        }
        return (
            loaded.model, try loaded.model.adapterParameters(adapter),
            DecoderObjective(model: loaded.model, examples: examples)
        )
    }

    @Test func theAnswerRowsOfBAreThetaAndOnlyTheyAreWritten() throws {
        let (_, parameters, _) = try setup()
        let layout = try LaplaceLayout(parameters: parameters, subset: .lmHead, name: "tiny", answerRows: rows)
        #expect(layout.blocks.map(\.role) == [.loraA, .loraB])
        #expect(layout.blocks.map { [$0.rows, $0.columns] } == [[4, 64], [4, 4]])
        #expect(layout.answerRows == rows)
        let b = try #require(parameters.parameters.first { $0.path == "lm_head" && $0.role == .loraB }).value
        let before = b.values
        for (j, row) in rows.enumerated() {
            #expect(Array(layout.values[(256 + 4 * j)..<(256 + 4 * j + 4)]) == Array(before[(4 * row)..<(4 * row + 4)]))
        }
        layout.write(layout.values.map { $0 + 1 }, into: parameters)
        let after = b.values
        for row in 0..<(before.count / 4) {
            let moved = (0..<4).allSatisfy { after[4 * row + $0] == before[4 * row + $0] + 1 }
            let same = (0..<4).allSatisfy { after[4 * row + $0] == before[4 * row + $0] }
            #expect(rows.contains(row) ? moved : same, "row \(row)")
        }
        layout.write(layout.values, into: parameters)
        #expect(b.values == before)
        // Rows that are not token ids are refused.
        #expect(throws: UsageError.self) {
            try LaplaceLayout(parameters: parameters, subset: .lmHead, name: "tiny", answerRows: [10, 10])
        }
    }

    /// Each Jacobian coordinate of the row-selected B equals the whole-adapter Jacobian at its row.
    @Test func theJacobianOfTheKeptRowsIsTheWholeJacobianAtThem() throws {
        let (_, parameters, objective) = try setup()
        let head = try LaplaceLayout(parameters: parameters, subset: .lmHead, name: "tiny", answerRows: rows)
        let all = try LaplaceLayout(parameters: parameters, subset: .all, name: "tiny")
        func jacobian(_ layout: LaplaceLayout) -> [[Float]] {
            let collector = CurvatureCollector(layout: layout, backend: backend, kronecker: nil, perExample: true)
            objective.backwardForCurvature(
                [1], target: .logits, context: parameters.context(observer: collector, accumulating: false))
            return collector.gradients[0]
        }
        let small = jacobian(head), whole = jacobian(all)
        let a = try #require(all.block("lm_head", .loraA)), b = try #require(all.block("lm_head", .loraB))
        var largest: Float = 0
        for k in 0..<rows.count {
            #expect(Array(small[k][0..<256]) == Array(whole[k][all.blocks[a].range]))
            for (j, row) in rows.enumerated() {
                for c in 0..<4 {
                    let want = whole[k][all.blocks[b].offset + row * 4 + c]
                    #expect(abs(small[k][256 + j * 4 + c] - want) <= 1e-6 * max(1, abs(want)))
                    largest = max(largest, abs(want))
                }
            }
        }
        #expect(largest > 1e-3)
    }
}
