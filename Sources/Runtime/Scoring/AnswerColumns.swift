/// The answer tokens of a batch of prompts as one list: the head computes only these vocabulary rows, once
/// each, and every prompt reads its own answers' columns back from the batch's logits.
struct AnswerColumns {
    private(set) var ids: [Int] = []
    private var column: [Int: Int] = [:]

    init(_ answerLists: some Sequence<[Int]>) {
        for list in answerLists {
            for id in list where column[id] == nil { column[id] = ids.count; ids.append(id) }
        }
    }

    /// Row `row` of logits computed for `ids` (row-major, ids.count wide), at the given answers.
    func logits(_ logits: Tensor, row: Int, answers: [Int]) -> [Float] {
        answers.map { logits[row * ids.count + column[$0]!] }
    }
}
