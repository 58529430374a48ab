import CZstd
import Foundation

/// zstd decompression for the bundled fixtures (`*.zst`): streaming, so files whose frame
/// does not record its content size (piped `zstd`) work too.
public enum Zstd {
    public static func decompress(_ input: UnsafeRawBufferPointer, file: String) throws -> Data {
        guard let dctx = ZSTD_createDCtx() else {
            throw LoadError(.io, file: file, item: "", "zstd: cannot create a decompression context")
        }
        defer { ZSTD_freeDCtx(dctx) }
        var out = Data()
        let chunk = ZSTD_DStreamOutSize()
        var buffer = [UInt8](repeating: 0, count: chunk)
        var inBuf = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var lastResult = 0
        while inBuf.pos < inBuf.size || lastResult != 0 {
            let produced: Int = try buffer.withUnsafeMutableBytes { raw in
                var outBuf = ZSTD_outBuffer(dst: raw.baseAddress, size: raw.count, pos: 0)
                let r = ZSTD_decompressStream(dctx, &outBuf, &inBuf)
                if ZSTD_isError(r) != 0 {
                    throw LoadError(
                        .invalidHeader, file: file, item: "",
                        "zstd: \(String(cString: ZSTD_getErrorName(r)))")
                }
                lastResult = r
                return outBuf.pos
            }
            out.append(buffer, count: produced)
            if produced == 0 && inBuf.pos >= inBuf.size && lastResult != 0 {
                throw LoadError(.truncated, file: file, item: "", "zstd: the compressed stream ends early")
            }
        }
        return out
    }

    /// Reads `path`, decompressing it when it ends in `.zst`.
    public static func readMaybeCompressed(path: String) throws -> Data {
        if path.hasSuffix(".zst") {
            let m = try MappedFile(path: path)
            return try decompress(m.bytes, file: path)
        }
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw LoadError(.io, file: path, item: "", "cannot read: \(error.localizedDescription)")
        }
    }

    public static func compress(_ data: Data, level: Int32 = 19) -> Data {
        data.withUnsafeBytes { src in
            let bound = ZSTD_compressBound(src.count)
            var out = Data(count: bound)
            let n = out.withUnsafeMutableBytes { dst in
                ZSTD_compress(dst.baseAddress, bound, src.baseAddress, src.count, level)
            }
            precondition(ZSTD_isError(n) == 0, "zstd compression cannot fail with a bound-sized buffer")
            out.count = n
            return out
        }
    }
}
