import Foundation

/// A WordPiece vocabulary: the tokens of `vocab.txt`, one per line, the id of a token being its
/// 0-based line index.
///
/// Lines are read as the Rust `tokenizers` WordPiece reads them (`BertTokenizer.from_pretrained`
/// on a folder without tokenizer.json): split on LF, a CR before the LF dropped, trailing
/// whitespace removed. Tokens are compared byte for byte, so "é" (U+00E9) and "e\u{301}" are two
/// tokens, as in the reference.
///
/// Stricter than the reference, on purpose: an empty token line and a repeated token are errors.
/// (Hugging Face maps a repeated token to its last line's id and leaves the earlier id without a
/// token; an empty line becomes a token that can never match.) The five BERT special tokens
/// [PAD], [UNK], [CLS], [SEP], [MASK] must be present: Hugging Face would otherwise append the
/// missing ones with new ids that no model embedding has.
public struct Vocabulary: Sendable {
    /// The special tokens every BERT vocabulary must have. Each is matched whole in input text.
    static let specialTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

    let tokens: [String]
    let table: TokenTable

    /// Reads `vocab.txt`. Errors name the file and, where it applies, the line.
    public init(contentsOf url: URL) throws {
        try self.init(data: InputFile.read(url), file: url.path)
    }

    /// Reads the bytes of a `vocab.txt`; errors name `file` and the line.
    init(data: Data, file: String) throws {
        if data.isEmpty { throw BertologyError.badInput(file, "the vocabulary is empty") }

        var tokens: [String] = []
        let classes = CharacterClasses.shared
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var lineStart = 0
            while lineStart < bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                let next = lineEnd + 1
                if lineEnd > lineStart && lineEnd < bytes.count && bytes[lineEnd - 1] == UInt8(ascii: "\r") {
                    lineEnd -= 1
                }
                let lineNumber = tokens.count + 1
                guard let line = String(validating: UnsafeBufferPointer(rebasing: bytes[lineStart..<lineEnd]),
                                        as: UTF8.self) else {
                    throw BertologyError.badInput(file, at: "line \(lineNumber)", "not valid UTF-8")
                }
                var scalars = line.unicodeScalars
                while let last = scalars.last, classes.flags(last.value).contains(.whitespace) {
                    scalars.removeLast()
                }
                tokens.append(String(scalars))
                lineStart = next
            }
        }
        if let first = tokens.first, first.unicodeScalars.first == "\u{FEFF}" {
            throw BertologyError.badInput(file, at: "line 1",
                                          "the token starts with a byte-order mark (U+FEFF); save the file as UTF-8 without BOM")
        }
        try self.init(checking: tokens, file: file) { "line \($0 + 1)" }
    }

    /// A vocabulary from its tokens in id order. Errors name the token index.
    public init(tokens: [String]) throws {
        try self.init(checking: tokens, file: nil) { "token \($0)" }
    }

    /// The vocabulary of a `tokenizer.json` (the model's tokens and the added tokens, by id): no
    /// token is required. Errors name `file` and the place `location` gives for a token index.
    init(anyTokens tokens: [String], file: String, location: (Int) -> String) throws {
        try self.init(checking: tokens, file: file, requireBERTSpecials: false, location: location)
    }

    private init(checking tokens: [String], file: String?, requireBERTSpecials: Bool = true,
                 location: (Int) -> String) throws {
        if tokens.isEmpty { throw BertologyError.badInput(file, "the vocabulary is empty") }
        if tokens.count > Int(Int32.max) { throw BertologyError.badInput(file, "too many tokens (\(tokens.count))") }
        if let empty = tokens.firstIndex(where: \.isEmpty) {
            throw BertologyError.badInput(file, at: location(empty), "empty token")
        }
        switch TokenTable.build(tokens) {
        case .success(let table):
            self.table = table
        case .failure(let duplicate):
            let token = tokens[duplicate.index]
            // Byte equality, as the table compares (String == would also match canonical equivalents).
            let lastIndex = tokens.lastIndex { $0.utf8.elementsEqual(token.utf8) } ?? duplicate.index
            throw BertologyError.badInput(
                file, at: location(duplicate.index),
                "token \"\(token)\" repeats \(location(duplicate.firstIndex)) (Hugging Face would give it id "
                    + "\(lastIndex) and leave id \(duplicate.firstIndex) without a token)")
        }
        self.tokens = tokens
        for special in Self.specialTokens where requireBERTSpecials && table.id(for: special) == nil {
            throw BertologyError.badInput(
                file, "no \(special) token (a BERT vocabulary needs \(Self.specialTokens.joined(separator: ", ")))")
        }
    }

    /// Number of tokens (ids are 0..<count).
    public var count: Int { tokens.count }

    /// The id of a token, compared byte for byte (no Unicode normalization).
    public func id(for token: String) -> Int32? {
        table.id(for: token)
    }

    /// The token with this id.
    public func token(for id: Int32) -> String? {
        guard id >= 0, Int(id) < tokens.count else { return nil }
        return tokens[Int(id)]
    }
}
