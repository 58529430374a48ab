import CSHA256

/// SHA-256 (FIPS 180-4) for recording exactly which input files a run read. Written here to avoid a
/// crypto dependency whose build costs a minute per CI run for one hash.
public struct SHA256 {
    private var state: [UInt32] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ]
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0

    public init() {}

    public mutating func update(_ data: UnsafeRawBufferPointer) {
        length &+= UInt64(data.count)
        var offset = 0
        if !buffer.isEmpty {
            let take = min(64 - buffer.count, data.count)
            buffer += data[0..<take]
            offset = take
            if buffer.count == 64 {
                buffer.withUnsafeBytes { compress($0.baseAddress!) }; buffer.removeAll(keepingCapacity: true)
            }
        }
        let whole = (data.count - offset) / 64
        if whole > 0 {
            compress(data.baseAddress! + offset, blocks: whole)
            offset += whole * 64
        }
        if offset < data.count { buffer += data[offset...] }
    }

    public mutating func finalize() -> String {
        var tail = buffer
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        let bits = length &* 8
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bits >> (UInt64(i) * 8))) }
        tail.withUnsafeBytes { raw in
            for block in stride(from: 0, to: raw.count, by: 64) { compress(raw.baseAddress! + block) }
        }
        return state.map { word in
            let hex = String(word, radix: 16)
            return String(repeating: "0", count: 8 - hex.count) + hex
        }.joined()
    }

    /// One 64-byte block, through the C kernel (`CSHA256`).
    private mutating func compress(_ p: UnsafeRawPointer) { compress(p, blocks: 1) }

    private mutating func compress(_ p: UnsafeRawPointer, blocks: Int) {
        state.withUnsafeMutableBufferPointer {
            bayeval_sha256_blocks($0.baseAddress!, p.assumingMemoryBound(to: UInt8.self), blocks)
        }
    }

    /// Hex digest of a whole file (memory-mapped).
    public static func hexDigest(file path: String) throws -> String {
        let m = try MappedFile(path: path)
        var h = SHA256()
        h.update(m.bytes)
        return h.finalize()
    }

    public static func hexDigest(_ bytes: [UInt8]) -> String {
        var h = SHA256()
        bytes.withUnsafeBytes { h.update($0) }
        return h.finalize()
    }
}
