import Foundation

/// Every error Bertology throws: what went wrong, in which file, and where in it.
///
/// `description` is the one line the CLI prints, for example
/// `model/model.safetensors: tensor encoder.layer.0.attention.self.query.weight: shape [384, 383] disagrees with config.json (expected [384, 384])`.
public struct BertologyError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The category of a failure, which decides the CLI's exit status (see ``BertologyError/exitStatus``).
    public enum Kind: Sendable, Equatable {
        /// A file that exists but is malformed or disagrees with another (exit status 1).
        case badInput
        /// A file that is missing or cannot be read or written (exit status 1).
        case io
        /// Arguments or options that make no sense together (exit status 2).
        case usage
        /// The operation was cancelled (a task was cancelled, or SIGINT/SIGTERM).
        case cancelled
    }

    /// The category of the failure: bad input, I/O, usage or cancellation.
    public let kind: Kind
    /// The file concerned, as the user named it, when there is one.
    public let file: String?
    /// Where in the file: "line 12", "tensor embeddings.word_embeddings.weight", "byte 8".
    public let location: String?
    /// What is wrong, in words.
    public let reason: String

    /// Creates an error from its parts.
    /// - Parameters:
    ///   - kind: the category of the failure.
    ///   - file: the file concerned, as the user named it; nil when no file is involved.
    ///   - location: where in the file ("line 12", "tensor …", "byte 8"); nil when the whole file is concerned.
    ///   - reason: what is wrong, in words, without the file or location (``description`` joins them).
    public init(_ kind: Kind, file: String? = nil, location: String? = nil, _ reason: String) {
        self.kind = kind
        self.file = file
        self.location = location
        self.reason = reason
    }

    /// A ``Kind/badInput`` error: the file exists but is malformed or disagrees with another file.
    /// - Parameters:
    ///   - file: the file concerned, as the user named it.
    ///   - location: where in the file, for example "line 12"; nil when the whole file is concerned.
    ///   - reason: what is wrong, in words.
    public static func badInput(_ file: String?, at location: String? = nil, _ reason: String) -> BertologyError {
        BertologyError(.badInput, file: file, location: location, reason)
    }

    /// An ``Kind/io`` error: the file is missing or cannot be read or written.
    /// - Parameters:
    ///   - file: the file concerned, as the user named it.
    ///   - reason: what failed, for example the system's error message.
    public static func io(_ file: String?, _ reason: String) -> BertologyError {
        BertologyError(.io, file: file, reason)
    }

    /// A ``Kind/usage`` error: arguments or options that make no sense together; no file is involved.
    /// - Parameter reason: what is wrong and, when possible, how to fix it.
    public static func usage(_ reason: String) -> BertologyError {
        BertologyError(.usage, reason)
    }

    /// One line, whatever the file held: control characters (a newline in a tensor name, an escape
    /// sequence in a token) are shown escaped (`\n`, `\u{1B}`), and a location or reason that
    /// quotes a huge token or name is shortened in the middle.
    public var description: String {
        // Escaped first, then shortened: an escape is up to 8 characters for one, and 400 NUL bytes
        // quoted in a reason made a 2,000-character line (fuzz-glue-tsv).
        [file.map(Self.escapingControlCharacters),
         location.map { Self.elided(Self.escapingControlCharacters($0), limit: 300) },
         Self.elided(Self.escapingControlCharacters(reason), limit: 600)]
            .compactMap { $0 }
            .joined(separator: ": ")
    }

    static func escapingControlCharacters(_ text: String) -> String {
        func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
            scalar.properties.generalCategory == .control || scalar.value == 0x2028 || scalar.value == 0x2029
        }
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result.append(contentsOf: "\\n".unicodeScalars)
            case "\r": result.append(contentsOf: "\\r".unicodeScalars)
            case "\t": result.append(contentsOf: "\\t".unicodeScalars)
            case _ where needsEscape(scalar):
                result.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            default: result.append(scalar)
            }
        }
        return String(result)
    }

    /// `text` when it has at most `limit` characters (Unicode scalars), else its start and end
    /// around a note of how much was left out, `limit` characters in all, the note included (so a
    /// message has at most the file name + 300 + 600 + 4: fuzz-safetensors found a 1,004-character
    /// line when the note came on top).
    static func elided(_ text: String, limit: Int) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > limit else { return text }
        // The note's length depends on the count it gives; a count of up to 20 digits fits in 40.
        let kept = max(0, limit - 40)
        let head = String(String.UnicodeScalarView(scalars.prefix(kept * 2 / 3)))
        let tail = String(String.UnicodeScalarView(scalars.suffix(kept - kept * 2 / 3)))
        return "\(head)...(\(scalars.count - kept) characters left out)...\(tail)"
    }

    /// The process exit status the CLI uses for this error.
    public var exitStatus: Int32 {
        switch kind {
        case .usage: 2
        case .cancelled: 130
        case .badInput, .io: 1
        }
    }
}
