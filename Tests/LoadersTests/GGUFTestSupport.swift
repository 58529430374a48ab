import Foundation
import Testing
import TestModels
import Loaders

/// Fixture locations and small helpers shared by the GGUF tests. Fixtures are found relative to this source
/// file (no SwiftPM resources): Tests/LoadersTests/ → package root → fixtures/gguf.
enum GGUFFixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/gguf")

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: root.appendingPathComponent(relative)))
    }

    /// A little-endian float32 file as written by scripts/make_gguf_fixtures.py.
    static func floats(_ relative: String) throws -> [Float] {
        let data = try Data(contentsOf: root.appendingPathComponent(relative))
        return data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
            }
        }
    }

    static func json(_ relative: String) throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent(relative))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// The real SmolLM2 GGUF (see `RealModels` for where and when it is required).
    static let smolLM2Path = RealModels.smolLM2
}

/// Runs `body` and returns the `LoadError` it throws; records an issue if it throws nothing or another error.
func loadError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> LoadError? {
    do {
        try body()
        Issue.record("expected a LoadError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let e as LoadError {
        return e
    } catch {
        Issue.record("expected a LoadError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Parses an in-memory GGUF image.
func parseGGUF(_ bytes: [UInt8], name: String) throws -> GGUFFile {
    try bytes.withUnsafeBytes { try GGUFFile.parse(bytes: $0, name: name) }
}

/// Byte-level surgery on a GGUF image for the corruption tests.
struct GGUFImage {
    var bytes: [UInt8]

    /// Offset of the first occurrence of `text`'s UTF-8 bytes (a key or tensor name) at or after `from`.
    func find(_ text: String, from: Int = 0) -> Int? {
        let needle = Array(text.utf8)
        guard needle.count <= bytes.count else { return nil }
        for i in from...(bytes.count - needle.count) where bytes[i] == needle[0] {
            if Array(bytes[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }

    func u32(at o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[o + $1]) << (8 * $1) } }
    func u64(at o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[o + $1]) << (8 * $1) } }
    mutating func setU32(_ v: UInt32, at o: Int) {
        for k in 0..<4 { bytes[o + k] = UInt8(truncatingIfNeeded: v >> (8 * k)) }
    }
    mutating func setU64(_ v: UInt64, at o: Int) {
        for k in 0..<8 { bytes[o + k] = UInt8(truncatingIfNeeded: v >> (8 * k)) }
    }

    /// Where the fields of a tensor-info record live: the record starts with the name (u64 length + bytes),
    /// then n_dims (u32), dims (u64 each), the ggml type (u32) and the data offset (u64).
    func tensorInfo(_ name: String) -> (nDims: Int, dims: Int, type: Int, offset: Int)? {
        // Metadata strings never end in a tensor name followed by a plausible n_dims, so search for the name
        // preceded by its exact length.
        var from = 0
        while let at = find(name, from: from) {
            from = at + 1
            guard at >= 8, u64(at: at - 8) == UInt64(name.utf8.count) else { continue }
            let nDims = at + name.utf8.count
            let n = Int(u32(at: nDims))
            guard (1...4).contains(n) else { continue }
            let type = nDims + 4 + 8 * n
            return (nDims, nDims + 4, type, type + 4)
        }
        return nil
    }
}
