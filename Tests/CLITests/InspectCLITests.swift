import Foundation
import Testing

/// The report line that starts with `key`.
func line(_ text: String, _ key: String) -> String? {
    text.split(separator: "\n").first { $0.hasPrefix(key + " ") }.map(String.init)
}

@Suite struct InspectCLITests {
    @Test func adapterDirectoryAsJSON() throws {
        let r = try bayeval(["inspect", fixture("adapters/llama-blob"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try jsonObject(r.stdout)
        #expect(o["kind"] as? String == "adapter-directory")
        let a = try #require(o["adapter"] as? [String: Any])
        #expect(a["kind"] as? String == "BLoB")
        #expect(a["rank"] as? Int == 4)
        #expect(a["scaling"] as? Double == 2)
        #expect(a["hasBLoBRho"] as? Bool == true)
        #expect((a["adaptedLayers"] as? [String])?.count == 5)
    }

    @Test func humanReadableReports() throws {
        let r = try bayeval(["inspect", fixture("adapters/llama-loraxs")])
        #expect(r.status == 0)
        #expect(line(r.stdout, "LoRA-XS cores")?.hasSuffix("yes") == true)
        let m = try bayeval(["inspect", fixture("safetensors/python_written.safetensors")])
        #expect(m.status == 0 && line(m.stdout, "kind")?.hasSuffix("safetensors") == true)
        #expect(m.stdout.contains("I64 ×1"))
    }

    @Test func modelDirectoryFromConfigAlone() throws {
        let dir = TempDir()
        let cfg = try Data(contentsOf: URL(fileURLWithPath: fixture("configs/llama31-rope-parameters.json")))
        _ = dir.write("config.json", cfg)
        let r = try bayeval(["inspect", dir.path, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try jsonObject(r.stdout)
        #expect(o["architecture"] as? String == "llama")
        #expect(o["parameterCount"] as? Int == 8_030_261_248)
        let d = try #require(o["dimensions"] as? [String: Any])
        #expect(d["keyValueHeads"] as? Int == 8)
        #expect((d["ropeScaling"] as? String)?.hasPrefix("llama3") == true)
    }

    @Test func brokenFilesExitNonZeroNamingFileAndItem() throws {
        let dir = TempDir()
        var bad = Data()
        withUnsafeBytes(of: UInt64(70).littleEndian) { bad.append(contentsOf: $0) }
        bad.append(Data(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#.utf8).prefix(70))
        bad.append(Data(repeating: 0, count: 4))
        let path = dir.write("broken.safetensors", bad)
        let r = try bayeval(["inspect", path])
        #expect(r.status != 0)
        #expect(r.stderr.contains(path))
        #expect(r.stdout.isEmpty)
        let missing = try bayeval(["inspect", dir.path + "/nope.gguf"])
        #expect(missing.status != 0 && missing.stderr.contains("nope.gguf"))
        let empty = try bayeval(["inspect", dir.path])
        #expect(empty.status != 0 && empty.stderr.contains("config.json"))
    }

    @Test func gguFWithBadMagicIsNotMistakenForSafetensors() throws {
        let dir = TempDir()
        let path = dir.write("model.gguf", Data("GGUF".utf8) + Data([99, 0, 0, 0]) + Data(repeating: 0, count: 40))
        let r = try bayeval(["inspect", path])
        #expect(r.status != 0)
        #expect(r.stderr.contains(path) && r.stderr.lowercased().contains("version"))
    }
}

@Suite struct DatasetsCLITests {
    @Test func summaryOfOneTask() throws {
        let r = try bayeval(["datasets", "--task", "obqa", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["split"] as? String } == ["train", "validation", "test"])
        #expect(rows.map { $0["examples"] as? Int } == [4957, 500, 500])
    }

    @Test func unknownTaskAndMissingDataDirectory() throws {
        let r = try bayeval(["datasets", "--task", "squad"])
        #expect(r.status != 0 && r.stderr.contains("arc-c"))
        let d = try bayeval(["datasets", "--task", "rte", "--data-dir", "/nonexistent-data"])
        #expect(d.status != 0 && d.stderr.contains("/nonexistent-data"))
    }
}
