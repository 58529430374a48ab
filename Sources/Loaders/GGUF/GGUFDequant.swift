/// Block decoders from ggml's storage formats to Float32. Each kernel takes `blocks` whole blocks starting
/// at `src` (any alignment: GGUF only aligns tensors, and blocks of 18 or 34 bytes misalign the rest) and
/// writes `blocks * blockSize` floats. The arithmetic is done in Float32 in the same order as ggml and gguf-py
/// (scale × quant, then ± min), so results match them bit for bit.
enum GGUFDequant {
    /// Decodes `count` elements of `type` (a multiple of its block size; callers guarantee it).
    static func decode(_ type: GGMLType, _ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
        let blocks = count / type.blockSize
        let s = src.assumingMemoryBound(to: UInt8.self)
        switch type {
        case .f32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
        case .f16: ElementConversion.toFloat(src, dtype: .f16, count: count, into: dst)
        case .bf16: ElementConversion.toFloat(src, dtype: .bf16, count: count, into: dst)
        case .q4_0: q4_0(s, blocks, dst)
        case .q4_1: q4_1(s, blocks, dst)
        case .q5_0: q5_0(s, blocks, dst)
        case .q5_1: q5_1(s, blocks, dst)
        case .q8_0: q8_0(s, blocks, dst)
        case .q4_K: q4_K(s, blocks, dst)
        case .q5_K: q5_K(s, blocks, dst)
        case .q6_K: q6_K(s, blocks, dst)
        default: preconditionFailure("GGUFDequant.decode called for \(type.name); callers check canDequantize")
        }
    }

    @inline(__always)
    static func half(_ p: UnsafePointer<UInt8>, _ offset: Int) -> Float {
        Float(UnsafeRawPointer(p).loadUnaligned(fromByteOffset: offset, as: Float16.self))
    }

    // Q4_0: f16 d, then 16 bytes whose low nibbles are elements 0..15 and high nibbles 16..31; x = (q - 8)·d.
    static func q4_0(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for i in 0..<blocks {
            let b = src + i * 18, y = dst + i * 32
            let d = half(b, 0)
            for j in 0..<16 {
                let q = b[2 + j]
                y[j] = d * Float(Int32(q & 0x0F) - 8)
                y[j + 16] = d * Float(Int32(q >> 4) - 8)
            }
        }
    }

    // Q4_1: f16 d, f16 m, 16 nibble bytes as Q4_0; x = q·d + m.
    static func q4_1(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for i in 0..<blocks {
            let b = src + i * 20, y = dst + i * 32
            let d = half(b, 0), m = half(b, 2)
            for j in 0..<16 {
                let q = b[4 + j]
                y[j] = d * Float(q & 0x0F) + m
                y[j + 16] = d * Float(q >> 4) + m
            }
        }
    }

    // Q5_0: f16 d, u32 qh (bit k is the 5th bit of element k), 16 nibble bytes; x = (q - 16)·d.
    static func q5_0(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for i in 0..<blocks {
            let b = src + i * 22, y = dst + i * 32
            let d = half(b, 0)
            let qh = UInt32(littleEndian: UnsafeRawPointer(b).loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            for j in 0..<16 {
                let q = UInt32(b[6 + j])
                let lo = (q & 0x0F) | (((qh >> UInt32(j)) & 1) << 4)
                let hi = (q >> 4) | (((qh >> UInt32(j + 16)) & 1) << 4)
                y[j] = d * Float(Int32(lo) - 16)
                y[j + 16] = d * Float(Int32(hi) - 16)
            }
        }
    }

    // Q5_1: f16 d, f16 m, u32 qh, 16 nibble bytes; x = q·d + m.
    static func q5_1(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for i in 0..<blocks {
            let b = src + i * 24, y = dst + i * 32
            let d = half(b, 0), m = half(b, 2)
            let qh = UInt32(littleEndian: UnsafeRawPointer(b).loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            for j in 0..<16 {
                let q = UInt32(b[8 + j])
                let lo = (q & 0x0F) | (((qh >> UInt32(j)) & 1) << 4)
                let hi = (q >> 4) | (((qh >> UInt32(j + 16)) & 1) << 4)
                y[j] = d * Float(lo) + m
                y[j + 16] = d * Float(hi) + m
            }
        }
    }

    // Q8_0: f16 d, 32 int8; x = q·d.
    static func q8_0(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for i in 0..<blocks {
            let b = src + i * 34, y = dst + i * 32
            let d = half(b, 0)
            for j in 0..<32 { y[j] = d * Float(Int8(bitPattern: b[2 + j])) }
        }
    }
}
