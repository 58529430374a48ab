import Foundation

/// exp on eight floats at once: x = n·ln2 + r with |r| ≤ ln2/2, e^r from its degree-6 Taylor polynomial
/// (relative error below 2e-7, as float32 exp itself), 2^n built in the exponent bits. The scalar libm
/// call per element cost more than the rest of the SwiGLU step.
@inline(__always)
func vectorExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let x = x.clamped(lowerBound: SIMD8(repeating: -87.33), upperBound: SIMD8(repeating: 88.72))
    // Adding 1.5·2²³ rounds x·log2(e) to the nearest integer n and leaves n in the low mantissa bits, so
    // 2^n is integer arithmetic on the bit pattern (Swift's generic float→int conversion is not vectorised).
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let t = x * 1.442_695_04 + magic
    let n = t - magic
    let r = x - n * 0.693_145_751_953_125 - n * 1.428_606_765_330_187e-6
    var p = SIMD8<Float>(repeating: 1.0 / 720)
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let bits = unsafeBitCast(t, to: SIMD8<UInt32>.self)
    let exponent = (bits &- 0x4B40_0000 &+ 127) &<< 23
    return p * unsafeBitCast(exponent, to: SIMD8<Float>.self)
}

/// out[j] = silu(g[j]) · u[j] = g / (1 + e^−g) · u over `count` values, eight at a time.
@inline(__always)
func siluMultiplyRow(
    _ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int
) {
    var j = 0
    while j + 8 <= count {
        let gv = UnsafeRawPointer(g + j).loadUnaligned(as: SIMD8<Float>.self)
        let uv = UnsafeRawPointer(u + j).loadUnaligned(as: SIMD8<Float>.self)
        let r = gv / (1 + vectorExp(-gv)) * uv
        UnsafeMutableRawPointer(out + j).storeBytes(of: r, as: SIMD8<Float>.self)
        j += 8
    }
    while j < count {
        let v = g[j]
        out[j] = v / (1 + vectorExp(SIMD8(repeating: -v))[0]) * u[j]
        j += 1
    }
}

/// The SwiGLU backward over `count` values, eight at a time: with s = σ(g), ∂/∂u = d·g·s and
/// ∂/∂g = d·u·s·(1 + g·(1 − s)).
@inline(__always)
func siluMultiplyBackwardRow(
    _ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ d: UnsafePointer<Float>,
    gateGradient dg: UnsafeMutablePointer<Float>, upGradient du: UnsafeMutablePointer<Float>, count: Int
) {
    @inline(__always) func step(_ x: SIMD8<Float>, _ u: SIMD8<Float>, _ d: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>)
    {
        let s = 1 / (1 + vectorExp(-x))
        return (d * u * s * (1 + x * (1 - s)), d * x * s)
    }
    var j = 0
    while j + 8 <= count {
        let (gg, ug) = step(
            UnsafeRawPointer(g + j).loadUnaligned(as: SIMD8<Float>.self),
            UnsafeRawPointer(u + j).loadUnaligned(as: SIMD8<Float>.self),
            UnsafeRawPointer(d + j).loadUnaligned(as: SIMD8<Float>.self))
        UnsafeMutableRawPointer(dg + j).storeBytes(of: gg, as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(du + j).storeBytes(of: ug, as: SIMD8<Float>.self)
        j += 8
    }
    while j < count {
        let (gg, ug) = step(SIMD8(repeating: g[j]), SIMD8(repeating: u[j]), SIMD8(repeating: d[j]))
        dg[j] = gg[0]
        du[j] = ug[0]
        j += 1
    }
}

/// Softmax over the first `visible` of `count` attention scores in place; the masked rest become 0.
@inline(__always)
func maskedSoftmaxRow(_ row: UnsafeMutablePointer<Float>, visible: Int, count: Int) {
    var m = -Float.infinity
    for j in 0..<visible { m = max(m, row[j]) }
    var sum: Float = 0
    for j in 0..<visible { let e = Foundation.exp(row[j] - m); row[j] = e; sum += e }
    let inv = 1 / sum
    for j in 0..<visible { row[j] *= inv }
    for j in visible..<count { row[j] = 0 }
}
