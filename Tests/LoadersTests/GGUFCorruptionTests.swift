import Foundation
import Testing
import Loaders

/// Corrupted variants of synthetic_llama.gguf, made here byte by byte. Each must fail with a `LoadError`
/// naming the file and the offending item, never crash.
@Suite struct GGUFCorruptionTests {
    let original: GGUFImage
    let valid: GGUFFile

    init() throws {
        original = GGUFImage(bytes: try GGUFFixtures.bytes("synthetic_llama.gguf"))
        valid = try parseGGUF(original.bytes, name: "valid.gguf")
    }

    /// Applies `edit` to a copy of the fixture and returns the error parsing it gives.
    func failure(
        _ name: String, _ edit: (inout GGUFImage) throws -> Void,
        sourceLocation: SourceLocation = #_sourceLocation
    ) rethrows -> LoadError? {
        var image = original
        try edit(&image)
        let e = loadError({ _ = try parseGGUF(image.bytes, name: name) }, sourceLocation: sourceLocation)
        #expect(e?.file == name, sourceLocation: sourceLocation)
        return e
    }

    /// Offset of the u32 value type that follows a metadata key.
    func valueTypeOffset(_ image: GGUFImage, key: String) throws -> Int {
        let at = try #require(image.find(key))
        return at + key.utf8.count
    }

    @Test func badMagic() {
        let e = failure("magic.gguf") { $0.bytes[0] = UInt8(ascii: "X") }
        #expect(e?.kind == .invalidHeader && e?.item == "header")
        #expect(e?.message.contains("magic") == true)
    }

    @Test(arguments: [UInt32(0), 1, 4, 99, 0x0300_0000])
    func unsupportedVersion(_ version: UInt32) {
        let e = failure("version\(version).gguf") { $0.setU32(version, at: 4) }
        #expect(e?.kind == .unsupported && e?.item == "header")
        #expect(e?.message.contains("version \(version)") == true)
    }

    @Test func version2IsAccepted() throws {
        // v2 and v3 share the layout (64-bit counts); only v1 used 32-bit ones.
        var image = original
        image.setU32(2, at: 4)
        let file = try parseGGUF(image.bytes, name: "v2.gguf")
        #expect(file.version == 2 && file.tensors == valid.tensors)
    }

    @Test func hugeCounts() {
        var e = failure("kv.gguf") { $0.setU64(UInt64.max, at: 16) }
        #expect(e?.kind == .invalidHeader && e?.item == "header")
        e = failure("tensors.gguf") { $0.setU64(1 << 40, at: 8) }
        #expect(e?.kind == .invalidHeader && e?.item == "header")
        // Under the cap but more records than the file could hold.
        e = failure("tensors2.gguf") { $0.setU64(100_000, at: 8) }
        #expect(e?.kind == .truncated && e?.item == "header")
        e = failure("kv2.gguf") { $0.setU64(1_000_000, at: 16) }
        #expect(e?.kind == .truncated && e?.item == "header")
    }

    @Test func stringLengthPastEnd() throws {
        // general.name: key, u32 type (8 = string), u64 length, bytes.
        let typeAt = try valueTypeOffset(original, key: "general.name")
        #expect(original.u32(at: typeAt) == 8)
        let e = failure("string.gguf") { $0.setU64(UInt64($0.bytes.count), at: typeAt + 4) }
        #expect(e?.kind == .truncated && e?.item == "general.name")
        // A length beyond the string cap is refused before anything is allocated.
        let e2 = failure("string2.gguf") { $0.setU64(UInt64.max, at: typeAt + 4) }
        #expect(e2?.kind == .invalidHeader && e2?.item == "general.name")
        // The first key's own length (right after the 24-byte header) names the entry by position.
        let e3 = failure("key.gguf") { $0.setU64(1 << 30, at: 24) }
        #expect(e3?.item == "metadata entry #0")
    }

    @Test func arrayLengthPastEnd() throws {
        let typeAt = try valueTypeOffset(original, key: "tokenizer.ggml.tokens")
        #expect(original.u32(at: typeAt) == 9 && original.u32(at: typeAt + 4) == 8)  // array of strings
        let e = failure("array.gguf") { $0.setU64(1 << 23, at: typeAt + 8) }
        #expect(e?.kind == .truncated && e?.item == "tokenizer.ggml.tokens")
        let e2 = failure("array2.gguf") { $0.setU64(UInt64.max, at: typeAt + 8) }
        #expect(e2?.kind == .invalidHeader && e2?.item == "tokenizer.ggml.tokens")
    }

    @Test func unknownMetadataValueType() throws {
        let typeAt = try valueTypeOffset(original, key: "test.uint8")
        let e = failure("vtype.gguf") { $0.setU32(13, at: typeAt) }
        #expect(e?.kind == .invalidHeader && e?.item == "test.uint8")
        #expect(e?.message.contains("13") == true)
        // Inside an array: the element type of test.array.int16.
        let arrayAt = try valueTypeOffset(original, key: "test.array.int16")
        let e2 = failure("vtype2.gguf") { $0.setU32(77, at: arrayAt + 4) }
        #expect(e2?.kind == .invalidHeader && e2?.item == "test.array.int16")
    }

    @Test func invalidBoolAndAlignment() throws {
        let boolAt = try valueTypeOffset(original, key: "test.bool_true")
        let e = failure("bool.gguf") { $0.bytes[boolAt + 4] = 2 }
        #expect(e?.kind == .invalidValue && e?.item == "test.bool_true")
        let alignAt = try valueTypeOffset(original, key: "general.alignment")
        #expect(original.u32(at: alignAt + 4) == 64)
        let e2 = failure("align.gguf") { $0.setU32(48, at: alignAt + 4) }
        #expect(e2?.kind == .invalidValue && e2?.item == "general.alignment")
    }

    @Test func tensorOffsetPastEnd() throws {
        let info = try #require(original.tensorInfo("blk.1.ffn_down.weight"))
        let e = failure("offset.gguf") { $0.setU64(1 << 40, at: info.offset) }
        #expect(e?.kind == .outOfBounds && e?.item == "blk.1.ffn_down.weight")
        let e2 = failure("offset2.gguf") { $0.setU64(UInt64.max - 63, at: info.offset) }
        #expect(e2?.kind == .outOfBounds && e2?.item == "blk.1.ffn_down.weight")
    }

    @Test func truncatedData() throws {
        let last = try #require(valid.tensors.max { $0.offset < $1.offset })
        let e = failure("cut.gguf") { $0.bytes.removeLast(100) }
        #expect(e?.kind == .truncated && e?.item == last.name)
    }

    @Test func truncatedHeader() throws {
        // Cut inside the tensor directory, in the middle of the record of blk.1.attn_q.weight.
        let info = try #require(original.tensorInfo("blk.1.attn_q.weight"))
        let e = failure("header-cut.gguf") { $0.bytes.removeSubrange((info.dims + 4)...) }
        #expect(e?.kind == .truncated && e?.item == "blk.1.attn_q.weight")
        let empty = loadError { _ = try parseGGUF([], name: "empty.gguf") }
        #expect(empty?.kind == .truncated && empty?.file == "empty.gguf" && empty?.item == "header")
    }

    @Test func unknownGGMLType() throws {
        let info = try #require(original.tensorInfo("blk.0.attn_v.weight"))
        let e = failure("type.gguf") { $0.setU32(99, at: info.type) }
        #expect(e?.kind == .unsupportedDType && e?.item == "blk.0.attn_v.weight")
        #expect(e?.message.contains("99") == true)
        // 4 and 5 are ids ggml retired (Q4_2, Q4_3).
        let e2 = failure("type4.gguf") { $0.setU32(4, at: info.type) }
        #expect(e2?.kind == .unsupportedDType && e2?.message.contains("4") == true)
    }

    @Test func misalignedTensor() throws {
        let info = try #require(original.tensorInfo("blk.0.attn_v.weight"))
        let e = failure("misaligned.gguf") { $0.setU64($0.u64(at: info.offset) + 32, at: info.offset) }
        #expect(e?.kind == .invalidHeader && e?.item == "blk.0.attn_v.weight")
        #expect(e?.message.contains("alignment 64") == true)
    }

    @Test func overlappingTensors() throws {
        // token_embd.weight (F16 32×64, 4096 bytes) sits at offset 0; move output_norm.weight inside it.
        #expect(valid.tensor("token_embd.weight")?.offset == 0)
        let info = try #require(original.tensorInfo("output_norm.weight"))
        let e = failure("overlap.gguf") { $0.setU64(64, at: info.offset) }
        #expect(e?.kind == .overlap && e?.item == "output_norm.weight")
        #expect(e?.message.contains("token_embd.weight") == true)
    }

    @Test func rowsNotWholeBlocksAndTooManyDims() throws {
        let down = try #require(original.tensorInfo("blk.0.ffn_down.weight"))  // Q8_0, dims [96, 64]
        #expect(original.u64(at: down.dims) == 96)
        let e = failure("blocks.gguf") { $0.setU64(80, at: down.dims) }
        #expect(e?.kind == .shapeMismatch && e?.item == "blk.0.ffn_down.weight")
        let e2 = failure("dims.gguf") { $0.setU32(5, at: down.nDims) }
        #expect(e2?.kind == .invalidHeader && e2?.item == "blk.0.ffn_down.weight")
        let e3 = failure("product.gguf") { $0.setU64(UInt64(Int64.max) - 31, at: down.dims) }
        #expect(e3?.kind == .invalidHeader && e3?.item == "blk.0.ffn_down.weight")
    }

    @Test func duplicateTensorName() throws {
        // Rename blk.1.ffn_up.weight to blk.0.ffn_up.weight (same length).
        let at = try #require(original.find("blk.1.ffn_up.weight"))
        let e = failure("dup.gguf") { $0.bytes[at + 4] = UInt8(ascii: "0") }
        #expect(e?.kind == .invalidHeader && e?.item == "blk.0.ffn_up.weight")
    }

    @Test func errorsFromDiskNameThePath() throws {
        var image = original
        image.setU32(1, at: 4)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bayeval-gguf-\(UUID().uuidString).gguf")
        try Data(image.bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let e = loadError { _ = try GGUFFile(path: url.path) }
        #expect(e?.file == url.path && e?.kind == .unsupported)
        let missing = loadError { _ = try GGUFFile(path: url.path + ".absent") }
        #expect(missing?.kind == .io && missing?.file == url.path + ".absent")
    }

    @Test func everyPrefixOfAFileFailsCleanly() throws {
        // Shorter than the end of the last tensor's data: an error; from there on (the writer pads the file
        // to the alignment) the file is complete.
        let bytes = try GGUFFixtures.bytes("types/q4_0.gguf")
        let whole = try parseGGUF(bytes, name: "whole.gguf")
        let end = whole.tensors.map { whole.dataOffset + $0.offset + $0.byteCount }.max()!
        #expect(end == whole.dataOffset + 4 * 64 / 32 * 18 && end < bytes.count)
        for n in 0..<end {
            let e = loadError { _ = try parseGGUF(Array(bytes[0..<n]), name: "prefix.gguf") }
            #expect(e?.file == "prefix.gguf" && e?.kind == .truncated, "prefix of \(n) bytes")
        }
        #expect(try parseGGUF(Array(bytes[0..<end]), name: "end.gguf").floats("values") == whole.floats("values"))
    }

    @Test func randomByteFlipsNeverCrash() throws {
        // Deterministic xorshift so a failure can be replayed.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state }
        let headerEnd = valid.dataOffset
        var parsed = 0, rejected = 0
        for _ in 0..<250 {
            var bytes = original.bytes
            for _ in 0..<(1 + Int(next() % 4)) {
                bytes[Int(next() % UInt64(headerEnd))] = UInt8(truncatingIfNeeded: next())
            }
            do {
                let f = try parseGGUF(bytes, name: "flip.gguf")
                parsed += 1
                for t in f.tensors where t.type.canDequantize { _ = try f.floats(t.name) }
            } catch let e as LoadError {
                rejected += 1
                #expect(e.file == "flip.gguf")
            }
        }
        #expect(parsed + rejected == 250 && rejected > 0)
    }
}
