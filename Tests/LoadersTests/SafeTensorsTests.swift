import Foundation
import Testing
@testable import Loaders

/// A scratch directory per test; removed at the end.
final class ScratchDirectory {
    let path: String
    init(_ tag: String = #function) {
        path = NSTemporaryDirectory() + "bayeval-test-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    @discardableResult func write(_ name: String, _ data: Data) -> String {
        let p = file(name); FileManager.default.createFile(atPath: p, contents: data); return p
    }
    @discardableResult func write(_ name: String, _ text: String) -> String { write(name, Data(text.utf8)) }
}

/// A raw safetensors file from a header string and a data blob, so tests can lie in any field.
func rawSafeTensors(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> Data {
    var out = Data()
    withUnsafeBytes(of: (declaredLength ?? UInt64(header.utf8.count)).littleEndian) { out.append(contentsOf: $0) }
    out.append(Data(header.utf8))
    out.append(contentsOf: data)
    return out
}

func expectLoadError(
    _ kind: LoadError.Kind, file: String? = nil, item: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected LoadError.\(kind), nothing was thrown", sourceLocation: sourceLocation)
    } catch let e as LoadError {
        #expect(e.kind == kind, "\(e)", sourceLocation: sourceLocation)
        if let file { #expect(e.file == file, "\(e)", sourceLocation: sourceLocation) }
        if let item { #expect(e.item == item, "\(e)", sourceLocation: sourceLocation) }
        #expect(e.description.contains(e.file), sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected LoadError.\(kind), got \(error)", sourceLocation: sourceLocation)
    }
}

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
func fixture(_ relative: String) -> String {
    packageRoot.appendingPathComponent("fixtures").appendingPathComponent(relative).path
}

@Suite struct SafeTensorsReadWriteTests {
    @Test func floatRoundTripInEveryFloatDType() throws {
        let dir = ScratchDirectory()
        let values: [Float] = [0, 1, -2.5, 3.140625, 1e-3, -65504, 0.333333]
        var w = SafeTensorsWriter(metadata: ["format": "pt", "note": "quote\" and\nnewline"])
        try w.add("f32", floats: values, shape: [7])
        try w.add("f16", floats: values, shape: [7, 1], as: .f16)
        try w.add("bf16", floats: values, shape: [1, 7], as: .bf16)
        let path = dir.file("t.safetensors")
        try w.write(to: path)
        let f = try SafeTensorsFile(path: path)
        #expect(f.names == ["bf16", "f16", "f32"])
        #expect(f.metadata == ["format": "pt", "note": "quote\" and\nnewline"])
        #expect(try f.floats("f32") == values)
        #expect(try f.floats("f16") == values.map { Float(Float16($0)) })
        let bf = try f.floats("bf16")
        for (x, y) in zip(bf, values) { #expect(abs(x - y) <= abs(y) / 128 + 1e-30) }
        #expect(f.info("f16")?.shape == [7, 1])
        // The data section starts 8-byte aligned.
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect((8 + Int(raw.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })) % 8 == 0)
    }

    @Test func integerDTypesConvertExactly() throws {
        let dir = ScratchDirectory()
        var w = SafeTensorsWriter()
        func bytes<T>(_ xs: [T]) -> Data { xs.withUnsafeBytes { Data($0) } }
        try w.add("i64", dtype: .i64, shape: [3], bytes: bytes([Int64(-7), 0, 1 << 40]))
        try w.add("i32", dtype: .i32, shape: [2], bytes: bytes([Int32(-3), 123456]))
        try w.add("i16", dtype: .i16, shape: [2], bytes: bytes([Int16(-300), 300]))
        try w.add("i8", dtype: .i8, shape: [2], bytes: bytes([Int8(-128), 127]))
        try w.add("u8", dtype: .u8, shape: [2], bytes: bytes([UInt8(0), 255]))
        try w.add("bool", dtype: .bool, shape: [3], bytes: bytes([UInt8(0), 1, 2]))
        try w.add("f64", dtype: .f64, shape: [2], bytes: bytes([0.1, -1e300]))
        let path = dir.file("i.safetensors")
        try w.write(to: path)
        let f = try SafeTensorsFile(path: path)
        #expect(try f.floats("i64") == [-7, 0, Float(1 << 40)])
        #expect(try f.floats("i32") == [-3, 123456])
        #expect(try f.floats("i16") == [-300, 300])
        #expect(try f.floats("i8") == [-128, 127])
        #expect(try f.floats("u8") == [0, 255])
        #expect(try f.floats("bool") == [0, 1, 1])
        #expect(try f.floats("f64") == [0.1, -.infinity])
        #expect(try f.view("i16").count == 4)
    }

    @Test func largeTensorsConvertInParallelIdentically() throws {
        let dir = ScratchDirectory()
        let n = 3 << 20 + 17
        let values = (0..<n).map { Float(sin(Double($0) * 0.001)) }
        var w = SafeTensorsWriter()
        try w.add("big", floats: values, shape: [n], as: .bf16)
        try w.write(to: dir.file("big.safetensors"))
        let f = try SafeTensorsFile(path: dir.file("big.safetensors"))
        let got = try f.floats("big")
        #expect(got.count == n)
        #expect(
            got.indices.allSatisfy {
                got[$0] == ElementConversion.bf16ToFloat(ElementConversion.floatToBF16(values[$0]))
            })
        var buffer = [Float](repeating: 0, count: n)
        try buffer.withUnsafeMutableBufferPointer { try f.copyFloats("big", into: $0) }
        #expect(buffer == got)
        var wrong = [Float](repeating: 0, count: 3)
        expectLoadError(.shapeMismatch, item: "big") {
            try wrong.withUnsafeMutableBufferPointer { try f.copyFloats("big", into: $0) }
        }
    }

    @Test func bf16RoundingIsNearestEven() {
        #expect(ElementConversion.floatToBF16(1.0) == 0x3F80)
        // 1 + 2^-8 is exactly halfway between two bf16 values: ties go to the even mantissa (1.0).
        #expect(ElementConversion.floatToBF16(1.00390625) == 0x3F80)
        #expect(ElementConversion.floatToBF16(1.01171875) == 0x3F82)
        #expect(ElementConversion.bf16ToFloat(ElementConversion.floatToBF16(.nan)).isNaN)
        #expect(ElementConversion.bf16ToFloat(ElementConversion.floatToBF16(.infinity)) == .infinity)
    }

    @Test func writerRejectsMismatchedShapes() {
        var w = SafeTensorsWriter()
        func refused(_ item: String, _ fragment: String, _ body: () throws -> Void) {
            #expect {
                try body()
            } throws: {
                guard let e = $0 as? WriteError else { return false }
                return e.item == item && e.message.contains(fragment)
            }
        }
        refused("x", "holds 4 values but 3") { try w.add("x", floats: [1, 2, 3], shape: [2, 2]) }
        refused("x", "not I32") { try w.add("x", floats: [1], shape: [1], as: .i32) }
        refused("__metadata__", "reserved") { try w.add("__metadata__", floats: [1], shape: [1]) }
    }
}

@Suite struct SafeTensorsBadInputTests {
    let dir = ScratchDirectory()
    let good = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#

    func open(_ data: Data, _ name: String = "bad.safetensors") throws -> SafeTensorsFile {
        try SafeTensorsFile(path: dir.write(name, data))
    }

    @Test func validBaselineLoads() throws {
        let f = try open(rawSafeTensors(header: good, data: [UInt8](repeating: 0, count: 8)))
        #expect(f.names == ["a"])
    }
    @Test func emptyAndTinyFiles() {
        expectLoadError(.truncated, item: "header length") { _ = try open(Data()) }
        expectLoadError(.truncated, item: "header length") { _ = try open(Data([1, 2, 3])) }
    }
    @Test func headerLengthPastTheEnd() {
        expectLoadError(.truncated, item: "header length") {
            _ = try open(rawSafeTensors(header: good, data: [], declaredLength: 4096))
        }
    }
    @Test func absurdHeaderLength() {
        expectLoadError(.invalidHeader, item: "header length") {
            _ = try open(rawSafeTensors(header: good, declaredLength: UInt64.max))
        }
    }
    @Test func headerIsNotJSON() {
        expectLoadError(.invalidHeader) { _ = try open(rawSafeTensors(header: "not json at all")) }
        expectLoadError(.invalidJSON) { _ = try open(rawSafeTensors(header: #"{"a": {"dtype": "F32", "#)) }
    }
    @Test func headerIsAnArray() {
        expectLoadError(.invalidHeader) { _ = try open(rawSafeTensors(header: "[1,2,3]")) }
    }
    @Test func unknownDType() {
        expectLoadError(.unsupportedDType, item: "a") {
            _ = try open(
                rawSafeTensors(
                    header: #"{"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}"#,
                    data: .init(repeating: 0, count: 8)))
        }
    }
    @Test func shapeDisagreesWithByteSize() {
        expectLoadError(.shapeMismatch, item: "a") {
            _ = try open(
                rawSafeTensors(
                    header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                    data: .init(repeating: 0, count: 8)))
        }
    }
    @Test func offsetsOutsideTheData() {
        expectLoadError(.outOfBounds, item: "a") {
            _ = try open(
                rawSafeTensors(
                    header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                    data: .init(repeating: 0, count: 8)))
        }
    }
    @Test func reversedOffsets() {
        expectLoadError(.invalidHeader, item: "a") {
            _ = try open(
                rawSafeTensors(
                    header: #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#,
                    data: .init(repeating: 0, count: 8)))
        }
    }
    @Test func overlappingTensors() {
        let h =
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
            + #""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        expectLoadError(.overlap) { _ = try open(rawSafeTensors(header: h, data: .init(repeating: 0, count: 12))) }
    }
    @Test func missingFields() {
        expectLoadError(.missingKey, item: "a") {
            _ = try open(rawSafeTensors(header: #"{"a":{"shape":[2],"data_offsets":[0,8]}}"#))
        }
        expectLoadError(.missingKey, item: "a") {
            _ = try open(rawSafeTensors(header: #"{"a":{"dtype":"F32","data_offsets":[0,8]}}"#))
        }
        expectLoadError(.missingKey, item: "a") {
            _ = try open(rawSafeTensors(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#))
        }
    }
    @Test func negativeAndOverflowingShapes() {
        expectLoadError(.invalidHeader, item: "a") {
            _ = try open(
                rawSafeTensors(
                    header: #"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#,
                    data: .init(repeating: 0, count: 8)))
        }
        expectLoadError(.invalidHeader, item: "a") {
            _ = try open(
                rawSafeTensors(
                    header: #"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#,
                    data: .init(repeating: 0, count: 8)))
        }
    }
    @Test func metadataMustBeStrings() {
        expectLoadError(.invalidHeader, item: "__metadata__.n") {
            _ = try open(rawSafeTensors(header: #"{"__metadata__":{"n":3}}"#))
        }
    }
    @Test func missingFileAndDirectory() {
        expectLoadError(.io, file: "/nonexistent/x.safetensors") {
            _ = try SafeTensorsFile(path: "/nonexistent/x.safetensors")
        }
        expectLoadError(.io) { _ = try SafeTensorsFile(path: dir.path) }
    }
    @Test func unknownTensorName() throws {
        let f = try open(rawSafeTensors(header: good, data: .init(repeating: 0, count: 8)))
        expectLoadError(.missingKey, item: "nope") { _ = try f.floats("nope") }
    }
}

@Suite struct ShardedCheckpointTests {
    func writeShard(_ dir: ScratchDirectory, _ name: String, _ tensors: [String: [Float]]) throws {
        var w = SafeTensorsWriter()
        for (k, v) in tensors { try w.add(k, floats: v, shape: [v.count]) }
        try w.write(to: dir.file(name))
    }

    @Test func indexedShardsLoad() throws {
        let dir = ScratchDirectory()
        try writeShard(dir, "model-00001-of-00002.safetensors", ["a": [1, 2], "b": [3]])
        try writeShard(dir, "model-00002-of-00002.safetensors", ["c": [4, 5, 6]])
        dir.write(
            "model.safetensors.index.json",
            #"{"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","#
                + #""b":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}}"#
        )
        let ckpt = try SafeTensorsCheckpoint(directory: dir.path)
        #expect(ckpt.names == ["a", "b", "c"])
        #expect(try ckpt.floats("c") == [4, 5, 6])
        #expect(ckpt.shards.count == 2)
    }

    @Test func singleFileAndGlobFallback() throws {
        let dir = ScratchDirectory()
        try writeShard(dir, "weights-1.safetensors", ["x": [1]])
        try writeShard(dir, "weights-2.safetensors", ["y": [2]])
        #expect(try SafeTensorsCheckpoint(directory: dir.path).names == ["x", "y"])
        try writeShard(dir, "model.safetensors", ["z": [3]])
        #expect(try SafeTensorsCheckpoint(directory: dir.path).names == ["z"])
    }

    @Test func indexNamingAMissingShard() throws {
        let dir = ScratchDirectory()
        try writeShard(dir, "model-1.safetensors", ["a": [1]])
        let index = dir.write(
            "model.safetensors.index.json", #"{"weight_map":{"a":"model-1.safetensors","b":"model-2.safetensors"}}"#)
        expectLoadError(.missingKey, file: index, item: "model-2.safetensors") {
            _ = try SafeTensorsCheckpoint(directory: dir.path)
        }
    }

    @Test func indexPlacingATensorInTheWrongShard() throws {
        let dir = ScratchDirectory()
        try writeShard(dir, "model-1.safetensors", ["a": [1]])
        try writeShard(dir, "model-2.safetensors", ["b": [1]])
        let index = dir.write(
            "model.safetensors.index.json", #"{"weight_map":{"a":"model-2.safetensors","b":"model-2.safetensors"}}"#)
        expectLoadError(.missingKey, file: index, item: "a") { _ = try SafeTensorsCheckpoint(directory: dir.path) }
    }

    @Test func tensorStoredTwice() throws {
        let dir = ScratchDirectory()
        try writeShard(dir, "a.safetensors", ["w": [1]])
        try writeShard(dir, "b.safetensors", ["w": [2]])
        expectLoadError(.overlap, item: "w") { _ = try SafeTensorsCheckpoint(directory: dir.path) }
    }

    @Test func emptyDirectoryAndBadIndex() throws {
        let dir = ScratchDirectory()
        expectLoadError(.missingKey) { _ = try SafeTensorsCheckpoint(directory: dir.path) }
        dir.write("model.safetensors.index.json", "{ not json")
        expectLoadError(.invalidJSON) { _ = try SafeTensorsCheckpoint(directory: dir.path) }
        dir.write("model.safetensors.index.json", #"{"metadata":{}}"#)
        expectLoadError(.missingKey, item: "weight_map") { _ = try SafeTensorsCheckpoint(directory: dir.path) }
    }
}
