import Foundation
import Loaders
import Testing

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
func fixture(_ relative: String) -> String { packageRoot.appendingPathComponent("fixtures/" + relative).path }

/// |a − b| ≤ tolerance · max(1, |b|) elementwise; returns the worst relative error for the report.
@discardableResult
func expectClose(
    _ a: [Float], _ b: [Double], tolerance: Double = 1e-4, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) -> Double {
    #expect(a.count == b.count, "\(what): \(a.count) values vs \(b.count)", sourceLocation: sourceLocation)
    var worst = 0.0
    for (x, y) in zip(a, b) {
        let err = abs(Double(x) - y) / max(1, abs(y))
        if !(err <= worst) { worst = err }
    }
    #expect(worst <= tolerance, "\(what): max relative error \(worst)", sourceLocation: sourceLocation)
    return worst
}

func doubles(_ v: JSONValue?) -> [Double] {
    guard let a = v?.array else { return [] }
    if a.first?.array != nil { return a.flatMap { doubles($0) } }
    return a.compactMap(\.double)
}

func ints(_ v: JSONValue?) -> [Int] { v?.array?.compactMap(\.int) ?? [] }
