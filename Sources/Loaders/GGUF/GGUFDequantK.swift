/// The "K" super-block formats (256 elements per block), laid out as ggml's block_q4_K / block_q5_K /
/// block_q6_K.
extension GGUFDequant {
    /// The 12 scale bytes of Q4_K/Q5_K pack eight 6-bit scales and eight 6-bit mins: sub-blocks 0–3 use
    /// the low 6 bits of bytes 0–3 (scale) and 4–7 (min); sub-blocks 4–7 take their low 4 bits from
    /// bytes 8–11 and their top 2 bits from the top bits of bytes 0–3 (scale) and 4–7 (min).
    @inline(__always)
    static func scaleMin(_ q: UnsafePointer<UInt8>, _ j: Int) -> (Float, Float) {
        if j < 4 {
            return (Float(q[j] & 63), Float(q[j + 4] & 63))
        }
        let sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4)
        let m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4)
        return (Float(sc), Float(m))
    }

    // Q4_K: f16 d, f16 dmin, 12 scale bytes, 128 bytes of nibbles. Each 32-byte group of nibbles holds two
    // sub-blocks of 32: low nibbles first, then high nibbles. x = (d·sc)·q − (dmin·m).
    static func q4_K(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for i in 0..<blocks {
            let b = src + i * 144
            let d = half(b, 0), dmin = half(b, 2)
            let scales = b + 4
            var qs = b + 16
            var y = dst + i * 256
            for j in stride(from: 0, to: 8, by: 2) {
                let (sc1, m1) = scaleMin(scales, j), (sc2, m2) = scaleMin(scales, j + 1)
                let d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2
                for l in 0..<32 {
                    y[l] = d1 * Float(qs[l] & 0x0F) - min1
                    y[l + 32] = d2 * Float(qs[l] >> 4) - min2
                }
                qs += 32
                y += 64
            }
        }
    }

    // Q5_K: as Q4_K with 32 extra bytes qh between the scales and the nibbles; bit k of qh[l] is the 5th bit
    // of element l of sub-block k.
    static func q5_K(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for i in 0..<blocks {
            let b = src + i * 176
            let d = half(b, 0), dmin = half(b, 2)
            let scales = b + 4, qh = b + 16
            var qs = b + 48
            var y = dst + i * 256
            for j in stride(from: 0, to: 8, by: 2) {
                let (sc1, m1) = scaleMin(scales, j), (sc2, m2) = scaleMin(scales, j + 1)
                let d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2
                let u1 = UInt8(1) << UInt8(j), u2 = UInt8(2) << UInt8(j)
                for l in 0..<32 {
                    let h1: UInt8 = qh[l] & u1 != 0 ? 16 : 0
                    let h2: UInt8 = qh[l] & u2 != 0 ? 16 : 0
                    y[l] = d1 * Float((qs[l] & 0x0F) | h1) - min1
                    y[l + 32] = d2 * Float((qs[l] >> 4) | h2) - min2
                }
                qs += 32
                y += 64
            }
        }
    }

    // Q6_K: 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 int8 scales, f16 d. Each half of 128
    // elements uses 64 low-nibble bytes, 32 high bytes and 8 scales; x = (d·scale)·(q − 32).
    static func q6_K(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        for i in 0..<blocks {
            let b = src + i * 210
            let d = half(b, 208)
            var ql = b, qh = b + 128
            var sc = UnsafeRawPointer(b + 192).assumingMemoryBound(to: Int8.self)
            var y = dst + i * 256
            for _ in 0..<2 {
                // Elements l and l+32/64/96 share qh[l]; scales change every 16 elements.
                for g in 0..<2 {
                    let s1 = d * Float(sc[g]), s2 = d * Float(sc[g + 2])
                    let s3 = d * Float(sc[g + 4]), s4 = d * Float(sc[g + 6])
                    for l in (g * 16)..<(g * 16 + 16) {
                        let h = qh[l]
                        let q1 = Int32((ql[l] & 0x0F) | ((h & 3) << 4)) - 32
                        let q2 = Int32((ql[l + 32] & 0x0F) | (((h >> 2) & 3) << 4)) - 32
                        let q3 = Int32((ql[l] >> 4) | (((h >> 4) & 3) << 4)) - 32
                        let q4 = Int32((ql[l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32
                        y[l] = s1 * Float(q1)
                        y[l + 32] = s2 * Float(q2)
                        y[l + 64] = s3 * Float(q3)
                        y[l + 96] = s4 * Float(q4)
                    }
                }
                y += 128
                ql += 64
                qh += 32
                sc += 8
            }
        }
    }
}
