import Foundation
import Testing
import Loaders

/// Every supported ggml type against the values gguf-py's `quants.dequantize` gives for the same blocks.
@Suite struct GGUFDequantTests {
    static let types: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]

    @Test(arguments: types)
    func matchesGGUFPy(_ type: GGMLType) throws {
        let stem = "types/\(type.name.lowercased())"
        let file = try GGUFFile(path: GGUFFixtures.path(stem + ".gguf"))
        let info = try #require(file.tensor("values"))
        #expect(info.type == type)
        let expected = try GGUFFixtures.floats(stem + ".f32.bin")
        let got = try file.floats("values")
        try #require(got.count == expected.count && got.count == info.elementCount)
        var maxError: Float = 0
        var bad = 0
        for (a, b) in zip(got, expected) where a.bitPattern != b.bitPattern {  // bit-equal covers ±0 and ±inf
            let d = abs(a - b)
            if !(d <= 1e-6) { bad += 1 }  // also counts NaN differences
            if d > maxError { maxError = d }
        }
        #expect(bad == 0, "\(type.name): \(bad) values differ by more than 1e-6, max abs error \(maxError)")
        // The fixtures include blocks with all-zero and all-one quant bits and a zero scale; make sure the
        // comparison also saw plenty of ordinary values.
        #expect(Set(expected.map(\.bitPattern)).count > 32)
    }

    @Test func intoCallerBufferMatchesArrayResult() throws {
        let file = try GGUFFile(path: GGUFFixtures.path("types/q4_k.gguf"))
        let expected = try file.floats("values")
        var buffer = [Float](repeating: .nan, count: expected.count)
        try buffer.withUnsafeMutableBufferPointer { try file.floats("values", into: $0) }
        #expect(buffer == expected)
        var small = [Float](repeating: 0, count: expected.count - 1)
        let e = loadError { try small.withUnsafeMutableBufferPointer { try file.floats("values", into: $0) } }
        #expect(e?.kind == .shapeMismatch && e?.item == "values")
    }

    @Test func allFloatsDecodesEveryTensorInParallel() throws {
        let file = try GGUFFile(path: GGUFFixtures.path("synthetic_llama.gguf"))
        let all = try file.allFloats()
        #expect(all.count == file.tensors.count)
        for t in file.tensors { #expect(try all[t.name] == file.floats(t.name), "\(t.name)") }
    }

    @Test func typeWithoutDecoderIsAnErrorNamingTensorAndType() throws {
        // Relabel the Q4_K tensor as Q2_K (id 10): the file stays valid (a Q2_K block is smaller), but
        // bayeval has no Q2_K decoder.
        var image = GGUFImage(bytes: try GGUFFixtures.bytes("types/q4_k.gguf"))
        let info = try #require(image.tensorInfo("values"))
        #expect(image.u32(at: info.type) == 12)
        image.setU32(10, at: info.type)
        let file = try parseGGUF(image.bytes, name: "q2k.gguf")
        #expect(file.tensor("values")?.type == .q2_K)
        let e = loadError { _ = try file.floats("values") }
        #expect(e?.kind == .unsupportedDType && e?.item == "values" && e?.file == "q2k.gguf")
        #expect(e?.message.contains("Q2_K") == true)
    }

    @Test func emptyTensorDecodesToEmptyArray() throws {
        var image = GGUFImage(bytes: try GGUFFixtures.bytes("synthetic_llama.gguf"))
        let info = try #require(image.tensorInfo("output_norm.weight"))
        image.setU64(0, at: info.dims)
        let file = try parseGGUF(image.bytes, name: "empty-tensor.gguf")
        #expect(file.tensor("output_norm.weight")?.elementCount == 0)
        #expect(try file.floats("output_norm.weight") == [])
    }

    @Test func missingTensorNamesTheTensor() throws {
        let file = try GGUFFile(path: GGUFFixtures.path("types/f32.gguf"))
        let e = loadError { _ = try file.floats("absent.weight") }
        #expect(e?.kind == .missingKey && e?.item == "absent.weight")
    }

    @Test func blockGeometryMatchesGGML() {
        #expect(GGMLType.q4_0.blockBytes == 18 && GGMLType.q4_1.blockBytes == 20)
        #expect(GGMLType.q5_0.blockBytes == 22 && GGMLType.q5_1.blockBytes == 24 && GGMLType.q8_0.blockBytes == 34)
        #expect(GGMLType.q4_K.blockBytes == 144 && GGMLType.q5_K.blockBytes == 176 && GGMLType.q6_K.blockBytes == 210)
        #expect(GGMLType.q4_K.blockSize == 256 && GGMLType.q8_0.blockSize == 32 && GGMLType.bf16.blockSize == 1)
    }
}
