import Foundation
import Testing
@testable import Loaders

/// Cross-language checks: files written by Python's safetensors load here with identical values, and the
/// file bayeval's writer produces is byte-stable (scripts/make_loader_fixtures.py loads it in Python).
@Suite struct SafeTensorsFixtureTests {
    @Test func pythonWrittenFileLoadsInEveryDType() throws {
        let expected = try JSONValue.parse(file: fixture("safetensors/python_written.json"))
        for file in ["python_written", "python_bf16"] {
            let f = try SafeTensorsFile(path: fixture("safetensors/\(file).safetensors"))
            for name in f.names {
                let want = try #require(expected[name])
                #expect(f.info(name)?.shape == want["shape"]?.array?.compactMap(\.int), "\(name)")
                let values = try f.floats(name)
                let reference = (want["values"]?.array ?? []).compactMap(\.double).map(Float.init)
                #expect(values == reference, "\(name)")
            }
        }
        let meta = try SafeTensorsFile(path: fixture("safetensors/python_written.safetensors")).metadata
        #expect(meta["made_by"] == "scripts/make_loader_fixtures.py")
    }

    /// Keep in sync with `swift_written_expectation()` in scripts/make_loader_fixtures.py.
    @Test func writerOutputIsStable() throws {
        let values = (0..<12).map { Float($0) * 0.25 - 1 }
        var w = SafeTensorsWriter(metadata: ["format": "pt", "writer": "bayeval"])
        try w.add("layer.weight", floats: values, shape: [3, 4])
        try w.add("layer.half", floats: values, shape: [2, 6], as: .f16)
        try w.add("layer.bf16", floats: values, shape: [12], as: .bf16)
        let path = fixture("safetensors/swift_written.safetensors")
        guard let committed = FileManager.default.contents(atPath: path) else {
            try w.write(to: path)
            Issue.record("wrote \(path); run scripts/make_loader_fixtures.py to check it in Python, then commit it")
            return
        }
        #expect(w.serialized() == committed)
    }
}
