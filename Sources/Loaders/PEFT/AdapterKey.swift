/// What one tensor of `adapter_model.safetensors` is, parsed from its key. PEFT's saved keys are
/// `base_model.model.<module path>.<part>`, with the adapter name (".default") already stripped by
/// `get_peft_model_state_dict`; older files and other tools keep it, so it is accepted here too.
public struct AdapterKey: Sendable, Equatable {
    public enum Role: Sendable, Equatable {
        case loraA  // lora_A.weight, rank × in
        case loraB  // lora_B.weight, out × rank
        case loraARho  // BLoB's lora_A_rho, rank × in (σ = rho² or softplus(rho))
        case latentCore  // LoRA-XS trainable core R, rank × rank
        case fullParameter(String)  // a saved whole parameter ("weight", "bias"): modules_to_save heads,
        // or a base layer PEFT saved alongside (lm_head.base_layer.weight)
    }

    public let key: String
    public let module: String
    public let role: Role

    static let prefix = "base_model.model."

    /// nil for keys that look like LoRA parts bayeval does not know (the caller reports them).
    public static func parse(_ key: String) -> AdapterKey? {
        var path = key.hasPrefix(prefix) ? String(key.dropFirst(prefix.count)) : key
        if path.hasSuffix(".default.weight") { path = String(path.dropLast(".default.weight".count)) + ".weight" }
        if path.hasSuffix(".default") { path = String(path.dropLast(".default".count)) }
        let parts: [(String, Role)] = [
            (".lora_A.weight", .loraA), (".lora_B.weight", .loraB), (".lora_A_rho", .loraARho),
            (".default_lora_latent_mapping.weight", .latentCore), (".lora_latent_mapping.weight", .latentCore),
            (".base_layer.weight", .fullParameter("weight")), (".base_layer.bias", .fullParameter("bias")),
        ]
        for (suffix, role) in parts where path.hasSuffix(suffix) {
            return AdapterKey(key: key, module: String(path.dropLast(suffix.count)), role: role)
        }
        if path.contains("lora_") { return nil }
        for p in ["weight", "bias"] where path.hasSuffix("." + p) {
            return AdapterKey(key: key, module: String(path.dropLast(p.count + 1)), role: .fullParameter(p))
        }
        return nil
    }
}
