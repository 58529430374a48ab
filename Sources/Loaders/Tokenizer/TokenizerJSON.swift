/// Reading the stages of a Hugging Face `tokenizer.json`. Every error names the file and the JSON path.
struct TokenizerJSONReader {
    let file: String

    func fail(_ kind: LoadError.Kind, _ item: String, _ message: String) -> LoadError {
        LoadError(kind, file: file, item: item, message)
    }

    func type(_ v: JSONValue, _ item: String) throws -> String {
        guard let t = v["type"]?.string else { throw fail(.missingKey, "\(item).type", "missing \"type\"") }
        return t
    }

    func string(_ v: JSONValue, _ key: String, _ item: String) throws -> String {
        guard let s = v[key]?.string else { throw fail(.missingKey, "\(item).\(key)", "missing string \"\(key)\"") }
        return s
    }

    func bool(_ v: JSONValue, _ key: String, default d: Bool) -> Bool { v[key]?.bool ?? d }

    func array(_ v: JSONValue, _ key: String, _ item: String) throws -> [JSONValue] {
        guard let a = v[key]?.array else { throw fail(.missingKey, "\(item).\(key)", "missing array \"\(key)\"") }
        return a
    }

    /// `{"String": " "}` or `{"Regex": "..."}` (Split, Replace).
    func pattern(_ v: JSONValue, _ item: String) throws -> SplitPattern {
        guard let p = v["pattern"] else { throw fail(.missingKey, "\(item).pattern", "missing \"pattern\"") }
        if let s = p["String"]?.string { return .literal(Array(s.unicodeScalars)) }
        if let r = p["Regex"]?.string {
            if r == RegexScanners.gpt2Pattern { return .gpt2 }
            if r == RegexScanners.llama3Pattern { return .llama3 }
            do { return .regex(try CompiledRegex(r)) } catch {
                throw fail(.unsupported, "\(item).pattern.Regex", "regex not supported by Swift Regex: \(error)")
            }
        }
        throw fail(.invalidValue, "\(item).pattern", "expected {\"String\": …} or {\"Regex\": …}")
    }

    func normalizer(_ v: JSONValue, _ item: String) throws -> Normalizer? {
        if v.isNull { return nil }
        let t = try type(v, item)
        switch t {
        case "BertNormalizer":
            let lower = bool(v, "lowercase", default: true)
            // strip_accents null follows lowercase.
            let strip = v["strip_accents"]?.bool ?? lower
            return .bert(
                cleanText: bool(v, "clean_text", default: true),
                handleChineseChars: bool(v, "handle_chinese_chars", default: true),
                stripAccents: strip, lowercase: lower)
        case "Lowercase": return .lowercase
        case "StripAccents": return .stripAccents
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Prepend": return .prepend(try string(v, "prepend", item))
        case "Strip":
            return .strip(left: bool(v, "strip_left", default: true), right: bool(v, "strip_right", default: true))
        case "Replace":
            guard case .literal(let p) = try pattern(v, item) else {
                throw fail(.unsupported, "\(item).pattern", "only {\"String\": …} patterns are supported in Replace")
            }
            var s = String.UnicodeScalarView(); s.append(contentsOf: p)
            return .replace(pattern: String(s), content: try string(v, "content", item))
        case "Sequence":
            let list = try array(v, "normalizers", item)
            return .sequence(try list.enumerated().compactMap { try normalizer($1, "\(item).normalizers[\($0)]") })
        default:
            throw fail(.unsupported, "\(item).type", "unknown normalizer type \"\(t)\"")
        }
    }

    func preTokenizer(_ v: JSONValue, _ item: String) throws -> PreTokenizer? {
        if v.isNull { return nil }
        let t = try type(v, item)
        switch t {
        case "ByteLevel":
            return .byteLevel(
                addPrefixSpace: bool(v, "add_prefix_space", default: true),
                useRegex: bool(v, "use_regex", default: true))
        case "Split":
            let b = v["behavior"]?.string ?? "Isolated"
            guard let behavior = SplitBehavior(rawValue: b) else {
                throw fail(.invalidValue, "\(item).behavior", "unknown split behavior \"\(b)\"")
            }
            return .split(try pattern(v, item), behavior: behavior, invert: bool(v, "invert", default: false))
        case "Digits": return .digits(individualDigits: bool(v, "individual_digits", default: false))
        case "BertPreTokenizer": return .bert
        case "Whitespace": return .whitespace
        case "WhitespaceSplit": return .whitespaceSplit
        case "Punctuation":
            let b = v["behavior"]?.string ?? "Isolated"
            guard let behavior = SplitBehavior(rawValue: b) else {
                throw fail(.invalidValue, "\(item).behavior", "unknown split behavior \"\(b)\"")
            }
            return .punctuation(behavior)
        case "Metaspace":
            let r = v["replacement"]?.string ?? "▁"
            guard r.unicodeScalars.count == 1, let rs = r.unicodeScalars.first else {
                throw fail(.invalidValue, "\(item).replacement", "the replacement must be one character")
            }
            var scheme = PreTokenizer.MetaspacePrepend.always
            if let s = v["prepend_scheme"]?.string {
                guard let p = PreTokenizer.MetaspacePrepend(rawValue: s) else {
                    throw fail(.invalidValue, "\(item).prepend_scheme", "unknown prepend scheme \"\(s)\"")
                }
                scheme = p
            } else if v["add_prefix_space"]?.bool == false {
                scheme = .never
            }
            return .metaspace(replacement: rs, prependScheme: scheme, split: bool(v, "split", default: true))
        case "Sequence":
            let list = try array(v, "pretokenizers", item)
            return .sequence(try list.enumerated().compactMap { try preTokenizer($1, "\(item).pretokenizers[\($0)]") })
        default:
            throw fail(.unsupported, "\(item).type", "unknown pre-tokenizer type \"\(t)\"")
        }
    }

    func decoder(_ v: JSONValue, _ item: String) throws -> TokenDecoder? {
        if v.isNull { return nil }
        let t = try type(v, item)
        switch t {
        case "ByteLevel": return .byteLevel
        case "WordPiece":
            return .wordPiece(prefix: v["prefix"]?.string ?? "##", cleanup: bool(v, "cleanup", default: true))
        case "Metaspace":
            let scheme =
                v["prepend_scheme"]?.string.flatMap(PreTokenizer.MetaspacePrepend.init(rawValue:))
                ?? (v["add_prefix_space"]?.bool == false ? .never : .always)
            return .metaspace(replacement: v["replacement"]?.string ?? "▁", prependScheme: scheme)
        case "Replace":
            guard case .literal(let p) = try pattern(v, item) else {
                throw fail(.unsupported, "\(item).pattern", "only {\"String\": …} patterns are supported in Replace")
            }
            var s = String.UnicodeScalarView(); s.append(contentsOf: p)
            return .replace(pattern: String(s), content: try string(v, "content", item))
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Strip":
            let c = try string(v, "content", item)
            guard let cs = c.unicodeScalars.first, c.unicodeScalars.count == 1 else {
                throw fail(.invalidValue, "\(item).content", "the stripped content must be one character")
            }
            return .strip(content: cs, start: v["start"]?.int ?? 0, stop: v["stop"]?.int ?? 0)
        case "Sequence":
            let list = try array(v, "decoders", item)
            return .sequence(try list.enumerated().compactMap { try decoder($1, "\(item).decoders[\($0)]") })
        default:
            throw fail(.unsupported, "\(item).type", "unknown decoder type \"\(t)\"")
        }
    }

    /// `lookup` resolves token strings (added tokens first, then the vocabulary).
    func postProcessor(_ v: JSONValue, _ item: String, lookup: (String) -> Int?) throws -> PostProcessor? {
        if v.isNull { return nil }
        let t = try type(v, item)
        func pairEntry(_ key: String) throws -> Int {
            guard let a = v[key]?.array, a.count == 2, let tok = a[0].string, let id = a[1].int else {
                throw fail(.invalidValue, "\(item).\(key)", "expected [token, id]")
            }
            _ = tok
            return id
        }
        switch t {
        case "ByteLevel": return .byteLevel
        case "RobertaProcessing": return .roberta(cls: try pairEntry("cls"), sep: try pairEntry("sep"))
        case "BertProcessing": return .bert(cls: try pairEntry("cls"), sep: try pairEntry("sep"))
        case "TemplateProcessing":
            var specials: [String: [Int]] = [:]
            for (name, spec) in v["special_tokens"]?.object ?? [:] {
                guard let ids = spec["ids"]?.array?.compactMap(\.int) else {
                    throw fail(.invalidValue, "\(item).special_tokens.\(name).ids", "expected an array of ids")
                }
                specials[name] = ids
            }
            func pieces(_ key: String) throws -> [PostProcessor.Piece] {
                try array(v, key, item).enumerated().map { i, p in
                    let here = "\(item).\(key)[\(i)]"
                    if let s = p["SpecialToken"] {
                        let name = try string(s, "id", here + ".SpecialToken")
                        guard let ids = specials[name] ?? lookup(name).map({ [$0] }) else {
                            throw fail(.invalidValue, here, "special token \"\(name)\" is not defined")
                        }
                        return .special(ids: ids, typeID: s["type_id"]?.int ?? 0)
                    }
                    if let s = p["Sequence"] {
                        let which = try string(s, "id", here + ".Sequence")
                        let tid = s["type_id"]?.int ?? 0
                        switch which {
                        case "A": return .sequenceA(typeID: tid)
                        case "B": return .sequenceB(typeID: tid)
                        default: throw fail(.invalidValue, here, "sequence id must be A or B, not \"\(which)\"")
                        }
                    }
                    throw fail(.invalidValue, here, "expected SpecialToken or Sequence")
                }
            }
            return .template(single: try pieces("single"), pair: try pieces("pair"))
        case "Sequence":
            let list = try array(v, "processors", item)
            return .sequence(
                try list.enumerated().compactMap {
                    try postProcessor($1, "\(item).processors[\($0)]", lookup: lookup)
                })
        default:
            throw fail(.unsupported, "\(item).type", "unknown post-processor type \"\(t)\"")
        }
    }
}
