/// Errors that are not about reading a file, in the same shape as `LoadError`: the file (or task, or
/// option) at fault, the item within it, and what is wrong, so every error a user sees names both.
public protocol NamedError: Error, CustomStringConvertible, Sendable {
    var file: String { get }
    var item: String { get }
    var message: String { get }
}

extension NamedError {
    public var description: String {
        item.isEmpty ? "\(file): \(message)" : "\(file): \(item): \(message)"
    }
}

/// An output that cannot be written: a run record, predictions, a log, an adapter or posterior
/// directory, a checkpoint with non-finite values.
public struct WriteError: NamedError, Equatable {
    public let file: String
    public let item: String
    public let message: String

    public init(file: String, item: String, _ message: String) {
        self.file = file
        self.item = item
        self.message = message
    }
}

/// Inputs and settings that each load but cannot serve the run asked for: a tokenizer that does not fit
/// the model, a task the model cannot do, an empty split, a σ that is not positive.
public struct UsageError: NamedError, Equatable {
    public let file: String
    public let item: String
    public let message: String

    public init(file: String, item: String, _ message: String) {
        self.file = file
        self.item = item
        self.message = message
    }
}
