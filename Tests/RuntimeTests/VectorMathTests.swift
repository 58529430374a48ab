import Foundation
import Testing
@testable import RuntimeCPU

@Suite struct VectorMathTests {
    @Test func vectorExpMatchesLibm() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let v = SIMD8<Float>((0..<8).map { x + Float($0) * 0.0137 })
            let e = vectorExp(v)
            for i in 0..<8 {
                let want = Foundation.exp(v[i])
                worst = max(worst, abs(e[i] - want) / want)
            }
            x += 0.173
        }
        #expect(worst < 3e-7, "max relative error \(worst)")
        #expect(vectorExp(SIMD8(repeating: -200))[0] < 1e-37)
        #expect(vectorExp(SIMD8(repeating: 0))[0] == 1)
    }

    @Test func siluMultiplyMatchesScalar() {
        let n = 21
        let g = (0..<n).map { Float($0) * 0.9 - 9 }, u = (0..<n).map { Float($0) * 0.1 + 0.5 }
        var out = [Float](repeating: 0, count: n)
        siluMultiplyRow(g, u, &out, count: n)
        for j in 0..<n {
            let want = g[j] / (1 + Foundation.exp(-g[j])) * u[j]
            #expect(abs(out[j] - want) <= 1e-6 * max(1, abs(want)))
        }
    }
}
