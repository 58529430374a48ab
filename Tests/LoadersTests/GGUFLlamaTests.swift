import Foundation
import Testing
import TestModels
import Loaders

/// Hugging Face layout of llama-arch GGUF files: name map, Q/K un-permutation, hyper-parameters.
@Suite struct GGUFLlamaTests {
    @Test func namesMapToHuggingFace() {
        let cases: [(String, String)] = [
            ("token_embd.weight", "model.embed_tokens.weight"),
            ("output_norm.weight", "model.norm.weight"),
            ("output.weight", "lm_head.weight"),
            ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"),
            ("blk.12.attn_k.weight", "model.layers.12.self_attn.k_proj.weight"),
            ("blk.3.attn_v.bias", "model.layers.3.self_attn.v_proj.bias"),
            ("blk.3.attn_output.weight", "model.layers.3.self_attn.o_proj.weight"),
            ("blk.1.ffn_gate.weight", "model.layers.1.mlp.gate_proj.weight"),
            ("blk.1.ffn_up.weight", "model.layers.1.mlp.up_proj.weight"),
            ("blk.1.ffn_down.weight", "model.layers.1.mlp.down_proj.weight"),
            ("blk.7.attn_norm.weight", "model.layers.7.input_layernorm.weight"),
            ("blk.7.ffn_norm.weight", "model.layers.7.post_attention_layernorm.weight"),
        ]
        for (g, h) in cases { #expect(GGUFLlamaLayout.hfName(forGGUF: g) == h) }
        for bad in [
            "blk.x.attn_q.weight", "blk.01.attn_q.weight", "blk.0.attn_qq.weight", "rope_freqs.weight", "token_embd",
        ] {
            #expect(GGUFLlamaLayout.hfName(forGGUF: bad) == nil, "\(bad)")
        }
    }

    @Test func rowMapUndoesTheConverterPermutation() throws {
        // 2 heads of 4 rows: HF rows (h, half j, i) are stored interleaved as GGUF row h·4 + 2i + j.
        #expect(GGUFLlamaLayout.unpermuteRowMap(rows: 8, heads: 2) == [0, 2, 1, 3, 4, 6, 5, 7])
        #expect(GGUFLlamaLayout.unpermuteRowMap(rows: 6, heads: 2) == nil)  // heads of odd size
        let gguf: [Float] = [0, 0.5, 2, 2.5, 1, 1.5, 3, 3.5]  // 4 rows × 2 columns
        #expect(GGUFLlamaLayout.unpermute(gguf, rows: 4, columns: 2, heads: 1) == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5])
    }

    @Test func syntheticModelInHuggingFaceLayout() throws {
        // The script stored HF-layout weights permuted as llama.cpp's converter does; F32 q/k of layer 0
        // must come back bit-exact, quantised ones as gguf-py dequantises them.
        let file = try GGUFFile(path: GGUFFixtures.path("synthetic_llama.gguf"))
        let (hp, tensors) = try file.llamaTensors()
        #expect(
            hp
                == GGUFLlamaHyperParameters(
                    blockCount: 2, embeddingLength: 64, feedForwardLength: 96, headCount: 4, headCountKV: 2,
                    contextLength: 256, vocabSize: 32, ropeDimensionCount: 16, ropeFreqBase: 500000,
                    rmsNormEpsilon: 1e-6, tiedEmbeddings: false))
        let index = try GGUFFixtures.json("synthetic_llama_hf.json")["tensors"] as! [[String: Any]]
        let blob = try GGUFFixtures.floats("synthetic_llama_hf.bin")
        #expect(tensors.count == index.count)
        for entry in index {
            let name = entry["name"] as! String, offset = entry["offset"] as! Int, count = entry["count"] as! Int
            let t = try #require(tensors[name], "\(name) missing")
            #expect(t.shape == entry["shape"] as! [Int], "\(name)")
            #expect(t.values == Array(blob[offset..<(offset + count)]), "\(name)")
        }
        // The same tensor through the single-tensor path.
        let k = try file.llamaTensor("blk.1.attn_k.weight", hp)
        #expect(k.hfName == "model.layers.1.self_attn.k_proj.weight")
        #expect(k.tensor == tensors[k.hfName])
    }

    @Test func unknownTensorAndTiedEmbeddings() throws {
        // Renaming output.weight leaves a tensor with no HF name, and no LM head: embeddings become tied.
        var image = GGUFImage(bytes: try GGUFFixtures.bytes("synthetic_llama.gguf"))
        let at = try #require(image.tensorInfo("output.weight")).nDims - 1
        image.bytes[at] = UInt8(ascii: "x")  // "output.weighx"
        let file = try parseGGUF(image.bytes, name: "renamed.gguf")
        #expect(try file.llamaHyperParameters().tiedEmbeddings)
        let e = loadError { _ = try file.llamaTensors() }
        #expect(e?.kind == .unknownKey && e?.item == "output.weighx" && e?.file == "renamed.gguf")
    }

    /// llama.cpp's converter stores llama3 rope scaling as `rope_freqs.weight` and linear scaling as metadata;
    /// both must reach the rope config (the runtime parity against transformers is in DecoderParityTests).
    @Test func ropeScalingFromTensorAndMetadata() throws {
        let llama3 = try GGUFFile(path: GGUFFixtures.path("tiny_llama3.gguf")).llamaHyperParameters()
        #expect(llama3.ropeScaling == .frequencyDivisors([1, 8, 8, 8, 8, 8, 8, 8]))
        let linear = try GGUFFile(path: GGUFFixtures.path("tiny_llama_linear.gguf")).llamaHyperParameters()
        #expect(linear.ropeScaling == .linear(factor: 2))
        #expect(
            try GGUFFile(path: GGUFFixtures.path("synthetic_llama.gguf")).llamaHyperParameters().ropeScaling == .none)
    }

    @Test func unsupportedRopeScalingIsRefused() throws {
        var image = GGUFImage(bytes: try GGUFFixtures.bytes("tiny_llama_linear.gguf"))
        let key = try #require(image.find("llama.rope.scaling.type"))
        let value = try #require(image.find("linear", from: key))
        image.bytes.replaceSubrange(value..<(value + 6), with: Array("yarn__".utf8))
        let e = loadError { _ = try parseGGUF(image.bytes, name: "yarn.gguf").llamaHyperParameters() }
        #expect(
            e?.kind == .unsupported && e?.item == "llama.rope.scaling.type" && e?.message.contains("yarn__") == true)

        var short = GGUFImage(bytes: try GGUFFixtures.bytes("tiny_llama3.gguf"))
        let info = try #require(short.tensorInfo("rope_freqs.weight"))
        short.setU64(4, at: info.dims)  // 4 divisors for 8 rotary pairs
        let f = loadError { _ = try parseGGUF(short.bytes, name: "short.gguf").llamaHyperParameters() }
        #expect(f?.kind == .shapeMismatch && f?.item == "rope_freqs.weight" && f?.file == "short.gguf")
    }

    @Test func nonLlamaArchitectureIsRejected() throws {
        let file = try GGUFFile(path: GGUFFixtures.path("types/f32.gguf"))  // arch "fixture"
        let e = loadError { _ = try file.llamaHyperParameters() }
        #expect(e?.kind == .unsupported && e?.item == "general.architecture")
    }

    // MARK: the real SmolLM2-135M-Instruct Q4_1 file (a reported skip when it is not downloaded)

    @Test(.enabled(if: RealModels.smolLM2Enabled, Comment(rawValue: RealModels.smolLM2Note)))
    func smolLM2MatchesReference() throws {
        let path = GGUFFixtures.smolLM2Path
        let ref = try GGUFFixtures.json("smollm2_reference.json")
        let blob = try GGUFFixtures.floats("smollm2_reference.bin")
        let file = try GGUFFile(path: path)

        #expect(Int(file.version) == ref["version"] as! Int)
        #expect(file.tensors.count == ref["tensor_count"] as! Int)
        #expect(file.metadata.count == ref["kv_count"] as! Int)
        #expect(file.dataOffset == ref["data_offset"] as! Int)
        #expect(file.architecture == ref["architecture"] as? String)
        #expect(file["general.name"]?.string == ref["name"] as? String)
        var typeCounts: [String: Int] = [:]
        for t in file.tensors { typeCounts[t.type.name, default: 0] += 1 }
        #expect(typeCounts == ref["tensor_type_counts"] as! [String: Int])
        for t in ref["tensors"] as! [[String: Any]] {
            let info = try #require(file.tensor(t["name"] as! String))
            #expect(info.type.name == t["type"] as! String && info.shape == t["shape"] as! [Int])
            #expect(info.offset == t["offset"] as! Int)
        }

        let llama = ref["llama"] as! [String: Any]
        let hp = try file.llamaHyperParameters()
        #expect(hp.blockCount == llama["block_count"] as! Int && hp.contextLength == llama["context_length"] as! Int)
        #expect(hp.embeddingLength == llama["embedding_length"] as! Int)
        #expect(hp.feedForwardLength == llama["feed_forward_length"] as! Int)
        #expect(hp.headCount == llama["attention.head_count"] as! Int)
        #expect(hp.headCountKV == llama["attention.head_count_kv"] as! Int)
        #expect(
            hp.vocabSize == llama["vocab_size"] as! Int
                && hp.ropeDimensionCount == llama["rope.dimension_count"] as! Int)
        #expect(hp.ropeFreqBase == Float(llama["rope.freq_base"] as! Double))
        #expect(hp.rmsNormEpsilon == Float(llama["attention.layer_norm_rms_epsilon"] as! Double))
        #expect(hp.tiedEmbeddings)

        let tr = ref["tokenizer"] as! [String: Any]
        let tok = try file.tokenizerData()
        #expect(tok.model == tr["model"] as! String && tok.pre == tr["pre"] as? String)
        #expect(
            tok.tokens.count == tr["token_count"] as! Int
                && Array(tok.tokens.prefix(5)) == tr["first_tokens"] as! [String])
        #expect(tok.tokens.last == tr["last_token"] as? String)
        #expect(
            tok.merges?.count == tr["merge_count"] as? Int
                && tok.merges.map { Array($0.prefix(3)) } == tr["first_merges"] as? [String])
        #expect(tok.tokenTypes?.filter { $0 == 3 }.count == tr["control_token_count"] as? Int)
        #expect(tok.bosTokenID == tr["bos"] as? Int && tok.eosTokenID == tr["eos"] as? Int)
        #expect(tok.unknownTokenID == tr["unknown"] as? Int && tok.paddingTokenID == tr["padding"] as? Int)
        #expect(tok.addBOS == tr["add_bos"] as? Bool && tok.addSpacePrefix == tr["add_space_prefix"] as? Bool)

        // Slices of dequantised, un-permuted tensors.
        var cache: [String: GGUFFloatTensor] = [:]
        for s in ref["slices"] as! [[String: Any]] {
            let gname = s["gguf_name"] as! String
            if cache[gname] == nil {
                let (hfName, t) = try file.llamaTensor(gname, hp)
                #expect(hfName == s["hf_name"] as! String)
                cache[gname] = t
            }
            let t = cache[gname]!
            #expect(t.shape == s["shape"] as! [Int])
            let expected = blob[(s["offset"] as! Int)..<((s["offset"] as! Int) + (s["count"] as! Int))]
            var got: [Float] = []
            if let rows = s["rows"] as? [Int], let cols = s["cols"] as? [Int] {
                let width = t.shape[1]
                for r in rows { got += t.values[(r * width + cols[0])..<(r * width + cols[1])] }
            } else {
                got = t.values
            }
            try #require(got.count == expected.count, "\(gname)")
            let maxError = zip(got, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(maxError <= 1e-6, "\(gname) [\(s["ggml_type"]!)]: max abs error \(maxError)")
        }
    }
}
