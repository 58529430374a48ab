/// How llama.cpp's GGUF layout of a LLaMA-architecture model maps onto Hugging Face's.
public enum GGUFLlamaLayout {
    /// The Hugging Face name for a GGUF tensor name of a llama-arch file, or nil for names with no
    /// counterpart. `blk.N.attn_q.weight` → `model.layers.N.self_attn.q_proj.weight`, `token_embd.weight` →
    /// `model.embed_tokens.weight`, `output.weight` → `lm_head.weight`, …; `.bias` suffixes map the same way.
    public static func hfName(forGGUF name: String) -> String? {
        let suffix: String
        let stem: Substring
        if name.hasSuffix(".weight") {
            suffix = ".weight"; stem = name.dropLast(7)
        } else if name.hasSuffix(".bias") {
            suffix = ".bias"; stem = name.dropLast(5)
        } else {
            return nil
        }
        switch stem {
        case "token_embd": return "model.embed_tokens" + suffix
        case "output_norm": return "model.norm" + suffix
        case "output": return "lm_head" + suffix
        default: break
        }
        let parts = stem.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0,
            String(layer) == parts[1], let module = blockModules[String(parts[2])]
        else { return nil }
        return "model.layers.\(layer).\(module)\(suffix)"
    }

    private static let blockModules: [String: String] = [
        "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    ]

    /// Row destinations that undo the conversion-time permutation of Q/K rows. llama.cpp's converter
    /// reorders each head's rows from Hugging Face's "first half, second half" rotary layout to interleaved
    /// pairs: HF row `h·hd + j·(hd/2) + i` is stored as GGUF row `h·hd + 2i + j` (hd = rows/heads, j ∈ {0,1}).
    /// `result[g]` is the HF row of GGUF row g. Nil when `rows` is not a multiple of `2·heads`.
    public static func unpermuteRowMap(rows: Int, heads: Int) -> [Int]? {
        guard heads > 0, rows >= 0, heads <= rows, rows % (2 * heads) == 0 else { return nil }
        let headDim = rows / heads, halfDim = headDim / 2
        var map = [Int](repeating: 0, count: rows)
        for h in 0..<heads {
            for i in 0..<halfDim {
                for j in 0..<2 { map[h * headDim + 2 * i + j] = h * headDim + j * halfDim + i }
            }
        }
        return map
    }

    /// Returns `values` (a row-major [rows, columns] matrix in GGUF row order, or a bias vector with
    /// columns = 1) with its rows in Hugging Face order. Nil when the rows cannot be split into `heads`
    /// heads of even size.
    public static func unpermute(_ values: [Float], rows: Int, columns: Int, heads: Int) -> [Float]? {
        guard columns >= 0, rows >= 0, case (let n, false) = rows.multipliedReportingOverflow(by: columns),
            values.count == n,
            let map = unpermuteRowMap(rows: rows, heads: heads)
        else { return nil }
        var out = [Float](repeating: 0, count: values.count)
        for (g, h) in map.enumerated() {
            out[(h * columns)..<(h * columns + columns)] = values[(g * columns)..<(g * columns + columns)]
        }
        return out
    }
}
