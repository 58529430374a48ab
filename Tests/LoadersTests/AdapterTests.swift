import Foundation
import Testing
@testable import Loaders

@Suite struct AdapterTests {
    let expected = try! JSONValue.parse(file: fixture("adapters/expected.json"))

    func shapes(_ name: String) throws -> [String: [Int]] {
        let o = try #require(try JSONValue.parse(file: fixture("adapters/\(name)")).object)
        return o.mapValues { $0.array?.compactMap(\.int) ?? [] }
    }

    func checkValues(_ adapter: LoRAAdapter, _ name: String) throws {
        let tensors = try #require(expected[name]?["tensors"]?.object)
        for l in adapter.layers {
            let key = "base_model.model.\(l.module).lora_A.weight"
            let want = try #require(tensors[key])
            #expect(want["shape"]?.array?.compactMap(\.int) == [l.rank, l.inFeatures])
            let first = (want["first"]?.array ?? []).compactMap(\.double).map(Float.init)
            #expect(Array(l.a.prefix(4)) == first)
            let sumB = tensors["base_model.model.\(l.module).lora_B.weight"]?["sum"]?.double ?? .nan
            #expect(abs(l.b.reduce(0.0) { $0 + Double($1) } - sumB) < 1e-5)
        }
    }

    @Test func mapAdapterWithHead() throws {
        let a = try LoRAAdapter.load(
            directory: fixture("adapters/llama-qv-head"), baseShapes: try shapes("tiny-llama-base-shapes.json"))
        #expect(a.kind == .lora)
        #expect(
            a.layers.map(\.module) == [
                "lm_head", "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj",
            ])
        #expect(a.layers.allSatisfy { $0.scaling == 2 && $0.rank == 4 })
        #expect(a.layer("model.layers.0.self_attn.v_proj")?.outFeatures == 16)  // 2 kv heads × 8
        #expect(a.layer("lm_head")?.outFeatures == 96)
        #expect(a.savedParameters.map(\.name) == ["lm_head.weight"])
        #expect(a.savedParameters.first?.baseName == "lm_head.weight")
        #expect(a.config.taskType == "CAUSAL_LM")
        try checkValues(a, "llama-qv-head")
    }

    @Test func blobCarriesRho() throws {
        let a = try LoRAAdapter.load(
            directory: fixture("adapters/llama-blob"), baseShapes: try shapes("tiny-llama-base-shapes.json"))
        #expect(a.kind == .blob)
        #expect(a.layers.allSatisfy { $0.aRho?.count == $0.a.count })
        try checkValues(a, "llama-blob")
    }

    @Test func loraXSCores() throws {
        let a = try LoRAAdapter.load(
            directory: fixture("adapters/llama-loraxs"), baseShapes: try shapes("tiny-llama-base-shapes.json"))
        #expect(a.kind == .loraXS)
        #expect(a.layers.count == 4 && a.layers.allSatisfy { $0.core?.count == 16 && $0.scaling == 1 })
        #expect(a.trainableParameterCount == 4 * 16)
    }

    @Test func regexTargetsAndRSLoRA() throws {
        let a = try LoRAAdapter.load(
            directory: fixture("adapters/llama-regex-rslora"), baseShapes: try shapes("tiny-llama-base-shapes.json"))
        #expect(a.config.targets == .pattern(#".*\.(q_proj|k_proj|down_proj)"#))
        #expect(
            Set(a.layers.map { $0.module.components(separatedBy: ".").last! }) == ["q_proj", "k_proj", "down_proj"])
        #expect(a.layers.allSatisfy { abs($0.scaling - 16 / 8.0.squareRoot()) < 1e-12 })
        #expect(a.layer("model.layers.1.mlp.down_proj")?.inFeatures == 64)
    }

    @Test func rankAndAlphaPatterns() throws {
        let a = try LoRAAdapter.load(
            directory: fixture("adapters/llama-rank-pattern"), baseShapes: try shapes("tiny-llama-base-shapes.json"))
        let o = try #require(a.layer("model.layers.0.self_attn.o_proj"))
        #expect(o.rank == 2 && o.scaling == 1.5)
        #expect(a.layer("model.layers.0.self_attn.q_proj")?.scaling == 2)
    }

    @Test func robertaClassifierAgainstTaskModelAndBackbone() throws {
        let a = try LoRAAdapter.load(
            directory: fixture("adapters/roberta-cls"), baseShapes: try shapes("tiny-roberta-cls-base-shapes.json"))
        #expect(a.layers.count == 4 && a.layers.allSatisfy { $0.scaling == 4 })
        #expect(
            a.savedParameters.map(\.name) == [
                "classifier.dense.bias", "classifier.dense.weight",
                "classifier.out_proj.bias", "classifier.out_proj.weight",
            ])
        #expect(a.savedParameters.last?.shape == [3, 32])
        // Against a backbone checkpoint: LoRA modules resolve without the "roberta." prefix; the head is new.
        let b = try LoRAAdapter.load(
            directory: fixture("adapters/roberta-cls"), baseShapes: try shapes("tiny-roberta-backbone-shapes.json"))
        #expect(b.layers.first?.baseWeight == "encoder.layer.0.attention.self.query.weight")
        #expect(b.savedParameters.allSatisfy { $0.baseName == nil })
        // Without base shapes everything still parses, unchecked.
        #expect(try LoRAAdapter.load(directory: fixture("adapters/roberta-cls")).layers.count == 4)
    }

    // MARK: bad input

    func brokenCopy(
        _ name: String, edit: (inout [String: (DType, [Int], Data)]) -> Void,
        config: ((String) -> String)? = nil
    ) throws -> ScratchDirectory {
        let dir = ScratchDirectory()
        let src = fixture("adapters/\(name)")
        var text = try String(contentsOfFile: src + "/adapter_config.json", encoding: .utf8)
        if let config { text = config(text) }
        dir.write("adapter_config.json", text)
        let f = try SafeTensorsFile(path: src + "/adapter_model.safetensors")
        var tensors: [String: (DType, [Int], Data)] = [:]
        for t in f.tensors { tensors[t.name] = (t.dtype, t.shape, Data(try f.view(t.name))) }
        edit(&tensors)
        var w = SafeTensorsWriter()
        for (k, v) in tensors { try w.add(k, dtype: v.0, shape: v.1, bytes: v.2) }
        try w.write(to: dir.file("adapter_model.safetensors"))
        return dir
    }

    @Test func rankMismatchBetweenAAndB() throws {
        let key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
        let dir = try brokenCopy("llama-qv-head") { t in t[key] = (.f32, [2, 32], Data(count: 2 * 32 * 4)) }
        expectLoadError(.shapeMismatch, file: dir.file("adapter_model.safetensors"), item: key) {
            _ = try LoRAAdapter.load(directory: dir.path)
        }
    }

    @Test func keyWithoutBaseModule() throws {
        let dir = try brokenCopy("llama-qv-head") { t in
            t["base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight"] = (
                .f32, [4, 32], Data(count: 4 * 32 * 4)
            )
            t["base_model.model.model.layers.7.self_attn.q_proj.lora_B.weight"] = (
                .f32, [32, 4], Data(count: 4 * 32 * 4)
            )
        }
        expectLoadError(.unknownKey, item: "base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight") {
            _ = try LoRAAdapter.load(directory: dir.path, baseShapes: try shapes("tiny-llama-base-shapes.json"))
        }
    }

    @Test func updateShapeDoesNotFitBase() throws {
        // Claims a 48-wide input for q_proj, whose base weight is 32 × 32: the message names both shapes.
        let a = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
        let dir = try brokenCopy("llama-qv-head") { t in t[a] = (.f32, [4, 48], Data(count: 4 * 48 * 4)) }
        do {
            _ = try LoRAAdapter.load(directory: dir.path, baseShapes: try shapes("tiny-llama-base-shapes.json"))
            Issue.record("loaded")
        } catch let e as LoadError {
            #expect(e.kind == .shapeMismatch && e.item == a)
            #expect(e.message.contains("[32, 48]") && e.message.contains("[32, 32]"))
        }
    }

    @Test func rankDisagreesWithConfig() throws {
        let dir = try brokenCopy(
            "llama-qv-head", edit: { _ in }, config: { $0.replacingOccurrences(of: "\"r\": 4", with: "\"r\": 8") })
        expectLoadError(.shapeMismatch) { _ = try LoRAAdapter.load(directory: dir.path) }
    }

    @Test func loneAOrB() throws {
        let b = "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"
        let dir = try brokenCopy("llama-qv-head") { t in t[b] = nil }
        expectLoadError(.missingKey, item: "model.layers.1.self_attn.v_proj.lora_B.weight") {
            _ = try LoRAAdapter.load(directory: dir.path)
        }
    }

    @Test func unknownLoRAPartAndIntegerDType() throws {
        let dir = try brokenCopy("llama-qv-head") { t in
            t["base_model.model.lm_head.lora_magnitude_vector"] = (.f32, [1], Data(count: 4))
        }
        expectLoadError(.unknownKey, item: "base_model.model.lm_head.lora_magnitude_vector") {
            _ = try LoRAAdapter.load(directory: dir.path)
        }
        let key = "base_model.model.lm_head.lora_B.weight"
        let dir2 = try brokenCopy("llama-qv-head") { t in t[key] = (.i32, [96, 4], Data(count: 96 * 4 * 4)) }
        expectLoadError(.unsupportedDType, item: key) { _ = try LoRAAdapter.load(directory: dir2.path) }
    }

    @Test func moduleNotSelectedByTargets() throws {
        let dir = try brokenCopy(
            "llama-qv-head", edit: { _ in },
            config: {
                $0.replacingOccurrences(of: "\"lm_head\",", with: "").replacingOccurrences(
                    of: ",\n    \"lm_head\"", with: "")
            })
        expectLoadError(.unknownKey) { _ = try LoRAAdapter.load(directory: dir.path) }
    }

    @Test func pickledAdapterAndMissingFiles() throws {
        let dir = ScratchDirectory()
        expectLoadError(.missingKey, item: "adapter_config.json") { _ = try LoRAAdapter.load(directory: dir.path) }
        dir.write("adapter_config.json", #"{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":["q_proj"]}"#)
        expectLoadError(.missingKey, item: "adapter_model.safetensors") {
            _ = try LoRAAdapter.load(directory: dir.path)
        }
        dir.write("adapter_model.bin", Data([0x80, 0x02]))
        do { _ = try LoRAAdapter.load(directory: dir.path); Issue.record("loaded") } catch let e as LoadError {
            #expect(e.kind == .unsupported && e.message.contains("save_file"))
        }
    }

    @Test func badAdapterConfigs() {
        func cfg(_ s: String) throws -> AdapterConfig {
            try AdapterConfig.decode(JSONValue.parse(Data(s.utf8), file: "a.json"), file: "a.json")
        }
        expectLoadError(.unsupported, item: "peft_type") {
            _ = try cfg(#"{"peft_type":"IA3","r":8,"target_modules":["q"]}"#)
        }
        expectLoadError(.missingKey, item: "r") { _ = try cfg(#"{"peft_type":"LORA","target_modules":["q"]}"#) }
        expectLoadError(.invalidValue, item: "r") { _ = try cfg(#"{"r":0,"target_modules":["q"]}"#) }
        expectLoadError(.missingKey, item: "target_modules") { _ = try cfg(#"{"r":8}"#) }
        expectLoadError(.invalidValue, item: "target_modules") { _ = try cfg(#"{"r":8,"target_modules":"(unclosed"}"#) }
        expectLoadError(.invalidValue, item: "modules_to_save") {
            _ = try cfg(#"{"r":8,"target_modules":["q"],"modules_to_save":[1]}"#)
        }
    }
}
