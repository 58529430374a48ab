import Foundation
import Testing

/// Runs the built `bayeval` binary (the products directory holds it next to the test bundle) and captures
/// its output and exit status, as a user's shell would see them.
struct CLIResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
func fixture(_ relative: String) -> String { packageRoot.appendingPathComponent("fixtures/" + relative).path }

var bayevalBinary: URL {
    // .build/<config>/bayevalPackageTests.xctest lives next to .build/<config>/bayeval.
    var dir = Bundle.main.bundleURL
    for _ in 0..<3 {
        let candidate = dir.appendingPathComponent("bayeval")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return packageRoot.appendingPathComponent(".build/debug/bayeval")
}

func bayeval(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> CLIResult {
    let p = Process()
    p.executableURL = bayevalBinary
    p.arguments = arguments
    p.currentDirectoryURL = packageRoot
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe(), inp = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = inp
    try p.run()
    if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
    try inp.fileHandleForWriting.close()
    // Read both pipes before waiting so a large output cannot block the child.
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return CLIResult(
        status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
        stderr: String(decoding: e, as: UTF8.self))
}

func jsonObject(_ s: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])
}

final class TempDir {
    let path = NSTemporaryDirectory() + "bayeval-cli-\(UUID().uuidString)"
    init() { try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func write(_ name: String, _ data: Data) -> String {
        let p = path + "/" + name
        FileManager.default.createFile(atPath: p, contents: data)
        return p
    }
}
