import Foundation
import Testing
import Loaders

/// The header and metadata reader against synthetic_llama.gguf, written by gguf-py's GGUFWriter
/// (scripts/make_gguf_fixtures.py) with one key per value type.
@Suite struct GGUFMetadataTests {
    let file: GGUFFile

    init() throws {
        file = try GGUFFile(path: GGUFFixtures.path("synthetic_llama.gguf"))
    }

    @Test func headerFields() {
        #expect(file.version == 3)
        #expect(file.architecture == "llama")
        #expect(file.alignment == 64)
        #expect(file.dataOffset % 64 == 0)
        #expect(file.tensors.count == 21)
        #expect(file.metadataKeys.first == "general.architecture")
        #expect(file.metadataKeys.count == file.metadata.count)
    }

    @Test func everyScalarValueType() {
        #expect(file["test.uint8"] == .uint8(255))
        #expect(file["test.int8"] == .int8(-128))
        #expect(file["test.uint16"] == .uint16(65535))
        #expect(file["test.int16"] == .int16(-32768))
        #expect(file["test.uint32"] == .uint32(UInt32.max))
        #expect(file["test.int32"] == .int32(Int32.min))
        #expect(file["test.float32"] == .float32(0.1))
        #expect(file["test.bool_true"] == .bool(true))
        #expect(file["test.bool_false"] == .bool(false))
        #expect(file["test.string"] == .string("Grüße, 世界 🦙"))
        #expect(file["test.uint64"] == .uint64(UInt64.max))
        #expect(file["test.int64"] == .int64(Int64.min))
        #expect(file["test.float64"] == .float64(-2.5e-300))
    }

    @Test func arraysIncludingNested() {
        #expect(file["test.array.uint8"] == .array(.uint8, [.uint8(0), .uint8(1), .uint8(255)]))
        #expect(file["test.array.int16"]?.ints == [-3, 0, 3])
        #expect(file["test.array.float32"]?.floats == [1.5, -0.25])
        #expect(file["test.array.float64"] == .array(.float64, [.float64(3.141592653589793)]))
        #expect(file["test.array.bool"]?.array?.compactMap(\.bool) == [true, false, true])
        #expect(file["test.array.uint64"] == .array(.uint64, [.uint64(0), .uint64(UInt64.max)]))
        #expect(file["test.array.int64"]?.ints == [-1, 42])
        #expect(file["test.array.string"]?.strings == ["a", "", "ç"])
        #expect(
            file["test.array.nested_int32"]
                == .array(
                    .array,
                    [
                        .array(.int32, [.int32(1), .int32(2)]), .array(.int32, [.int32(3)]),
                    ]))
        #expect(file["test.array.nested_string"]?.array?.map { $0.strings ?? [] } == [["x"], ["y", "z"]])
        #expect(file["test.array.nested_string"]?.elementType == .array)
    }

    @Test func accessorsConvertOnlyWhenExact() {
        #expect(GGUFValue.uint64(UInt64.max).int == nil)
        #expect(GGUFValue.int8(-5).int == -5)
        #expect(GGUFValue.uint32(7).double == 7)
        #expect(GGUFValue.string("7").int == nil)
        #expect(GGUFValue.array(.string, [.string("a"), .int8(1)]).strings == nil)
    }

    @Test func tensorInfosInRowMajorShape() throws {
        let q = try #require(file.tensor("blk.0.attn_q.weight"))
        #expect(q.type == .f32)
        #expect(q.dims == [64, 64])
        let k = try #require(file.tensor("blk.0.attn_k.weight"))
        #expect(k.dims == [64, 32])  // GGUF order: columns first
        #expect(k.shape == [32, 64])  // PyTorch order: [rows, cols]
        let down = try #require(file.tensor("blk.0.ffn_down.weight"))
        #expect(down.type == .q8_0)
        #expect(down.shape == [64, 96])
        #expect(down.byteCount == 64 * 96 / 32 * 34)
        let embd = try #require(file.tensor("token_embd.weight"))
        #expect(embd.type == .f16 && embd.shape == [32, 64] && embd.offset == 0)
        #expect(file.tensors.allSatisfy { $0.offset % 64 == 0 })
        #expect(file.tensor("nope") == nil)
    }

    @Test func tokenizerData() throws {
        let tok = try file.tokenizerData()
        #expect(tok.model == "llama")
        #expect(tok.pre == "default")
        #expect(tok.tokens.count == 32)
        #expect(tok.tokens.first == "<unk>" && tok.tokens.last == "▁héllo")
        #expect(tok.scores?.count == 32 && tok.scores?[4] == -1.0)
        #expect(tok.tokenTypes?.prefix(6) == [2, 3, 3, 3, 3, 1] && tok.tokenTypes?.last == 6)
        #expect(tok.merges == ["t o", "to k", "h é"])
        #expect(tok.bosTokenID == 1 && tok.eosTokenID == 2 && tok.unknownTokenID == 0)
        #expect(tok.paddingTokenID == 3 && tok.separatorTokenID == 4)
        #expect(tok.addBOS == true && tok.addEOS == false && tok.addSpacePrefix == true)
    }

    @Test func tokenizerDataNeedsTokens() throws {
        // types/q8_0.gguf has metadata but no tokenizer.
        let bare = try GGUFFile(path: GGUFFixtures.path("types/q8_0.gguf"))
        let e = loadError { _ = try bare.tokenizerData() }
        #expect(e?.kind == .missingKey && e?.item == "tokenizer.ggml.model")
        #expect(e?.file == GGUFFixtures.path("types/q8_0.gguf"))
    }
}
