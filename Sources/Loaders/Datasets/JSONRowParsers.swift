/// Row layouts of the JSONL tasks. Each parser turns one JSON object into an `Example` or throws a
/// `.malformedRow` error naming the line and the field.
enum JSONRowParsers {
    static func parse(_ task: TaskName, _ row: JSONRow, fileName: String) throws -> Example {
        switch task {
        case .arcChallenge, .arcEasy: return .multipleChoice(try arc(row))
        case .openBookQA: return .multipleChoice(try openBookQA(row))
        case .winoGrande: return .multipleChoice(try winoGrande(row, fileName: fileName))
        case .boolQ: return .classification(try boolQ(row, fileName: fileName))
        case .rte: return .classification(try rte(row))
        case .sst2, .cola, .mrpc:
            throw LoadError(.unsupported, file: row.context.file, item: "", "\(task) is not a JSONL task")
        }
    }

    /// Hugging Face ai2_arc layout: id, question, choices{text[], label[]}, answerKey.
    static func arc(_ r: JSONRow) throws -> MultipleChoiceExample {
        var row = r
        row.id = try row.string("id")
        return try multipleChoice(
            row, question: try row.string("question"),
            texts: try row.strings("choices.text"), labels: try row.strings("choices.label"),
            answerKey: try row.string("answerKey"), choicesField: "choices")
    }

    /// AI2 OpenBookQA layout: id, question{stem, choices[{text, label}]}, answerKey.
    static func openBookQA(_ r: JSONRow) throws -> MultipleChoiceExample {
        var row = r
        row.id = try row.string("id")
        let items = try row.array("question.choices")
        var texts: [String] = [], labels: [String] = []
        for (i, item) in items.enumerated() {
            guard let t = item["text"]?.string else {
                throw row.context.malformed("question.choices[\(i)].text", id: row.id, "missing or not a string")
            }
            guard let l = item["label"]?.string else {
                throw row.context.malformed("question.choices[\(i)].label", id: row.id, "missing or not a string")
            }
            texts.append(t)
            labels.append(l)
        }
        return try multipleChoice(
            row, question: try row.string("question.stem"), texts: texts, labels: labels,
            answerKey: try row.string("answerKey"), choicesField: "question.choices")
    }

    /// WinoGrande: sentence (with a "_" blank), option1, option2, answer "1" or "2".
    static func winoGrande(_ row: JSONRow, fileName: String) throws -> MultipleChoiceExample {
        let answer = try row.field("answer")
        let key = answer.string ?? answer.int.map(String.init) ?? ""
        guard key == "1" || key == "2" else {
            throw row.context.malformed("answer", "expected \"1\" or \"2\", found \(render(answer))")
        }
        return MultipleChoiceExample(
            id: "\(fileName):\(row.context.line)", question: try row.string("sentence"),
            choices: [try row.string("option1"), try row.string("option2")],
            choiceLabels: ["1", "2"], answerIndex: key == "1" ? 0 : 1)
    }

    /// BoolQ: question, passage, answer (a JSON bool, or the strings "true"/"false" as in the bundled dev
    /// file). Label 1 = true, 0 = false; text = question, pair = passage.
    static func boolQ(_ row: JSONRow, fileName: String) throws -> ClassificationExample {
        let answer = try row.field("answer")
        let truth: Bool
        switch answer {
        case .bool(let b): truth = b
        case .string(let s) where s.lowercased() == "true": truth = true
        case .string(let s) where s.lowercased() == "false": truth = false
        default: throw row.context.malformed("answer", "expected true or false, found \(render(answer))")
        }
        return ClassificationExample(
            id: "\(fileName):\(row.context.line)", text: try row.string("question"),
            pair: try row.string("passage"), label: truth ? 1 : 0,
            labelNames: TaskName.boolQ.labelNames)
    }

    /// GLUE RTE (HF parquet rows as JSON): sentence1, sentence2, label (0 entailment, 1 not_entailment), idx.
    static func rte(_ r: JSONRow) throws -> ClassificationExample {
        var row = r
        row.id = String(try row.int("idx"))
        let label = try row.int("label")
        guard label == 0 || label == 1 else {
            throw row.context.malformed(
                "label", id: row.id,
                "\(label) is out of range (0 = entailment, 1 = not_entailment; -1 marks a hidden test label)")
        }
        return ClassificationExample(
            id: row.id!, text: try row.string("sentence1"), pair: try row.string("sentence2"),
            label: label, labelNames: TaskName.rte.labelNames)
    }

    /// Checks shared by ARC and OpenBookQA and finds the answer position.
    static func multipleChoice(
        _ row: JSONRow, question: String, texts: [String], labels: [String],
        answerKey: String, choicesField: String
    ) throws -> MultipleChoiceExample {
        guard !texts.isEmpty else { throw row.context.malformed(choicesField, id: row.id, "no choices") }
        guard texts.count == labels.count else {
            throw row.context.malformed(
                choicesField, id: row.id,
                "\(texts.count) choice texts but \(labels.count) labels")
        }
        guard texts.count >= 2, texts.count <= 26 else {
            throw row.context.malformed(choicesField, id: row.id, "\(texts.count) choices; expected 2 to 26")
        }
        guard Set(labels).count == labels.count else {
            throw row.context.malformed(choicesField, id: row.id, "repeated labels \(labels)")
        }
        // Numeric labels (some ARC items use 1-4) must be the positions 1...N, so that the positional
        // letters of the prompt (A, B, ...) name the same choices the file's labels do.
        if labels.allSatisfy({ Int($0) != nil }) {
            for (i, l) in labels.enumerated() where l != String(i + 1) {
                throw row.context.malformed(
                    choicesField, id: row.id,
                    "numeric label \"\(l)\" at position \(i + 1); expected \"\(i + 1)\"")
            }
        }
        guard let answerIndex = labels.firstIndex(of: answerKey) else {
            throw row.context.malformed(
                "answerKey", id: row.id,
                "\"\(answerKey)\" is not one of the choice labels [\(labels.joined(separator: ", "))]")
        }
        return MultipleChoiceExample(
            id: row.id ?? "line \(row.context.line)", question: question, choices: texts,
            choiceLabels: labels, answerIndex: answerIndex)
    }

    static func render(_ v: JSONValue) -> String {
        switch v {
        case .null: "null"
        case .bool(let b): String(b)
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .string(let s): "\"\(s)\""
        case .array: "an array"
        case .object: "an object"
        }
    }
}
