/// The one error type every loader throws: it always names the file and the item (tensor, key, row, field)
/// so that a user holding a broken checkpoint or dataset knows exactly what to look at.
public struct LoadError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        case io  // the file cannot be opened, read or mapped
        case truncated  // the file ends before a declared structure does
        case invalidHeader  // a header field is out of range or inconsistent
        case invalidJSON  // JSON that does not parse or has the wrong shape
        case unsupportedDType  // a dtype or quantisation type bayeval does not read
        case shapeMismatch  // declared shape and byte size (or two shapes) disagree
        case outOfBounds  // an offset or index points outside its container
        case overlap  // two tensors claim the same bytes
        case missingKey  // a required key, tensor or field is absent
        case unknownKey  // a key that maps to nothing known
        case unsupported  // a valid but unsupported feature (model type, file format)
        case malformedRow  // a dataset row that does not have the expected layout
        case invalidValue  // a value of the right type but an impossible content
    }

    public let kind: Kind
    public let file: String
    public let item: String
    public let message: String

    public init(_ kind: Kind, file: String, item: String, _ message: String) {
        self.kind = kind
        self.file = file
        self.item = item
        self.message = message
    }

    public var description: String {
        item.isEmpty ? "\(file): \(message)" : "\(file): \(item): \(message)"
    }
}
