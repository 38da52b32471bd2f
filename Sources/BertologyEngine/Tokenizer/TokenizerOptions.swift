import Foundation

/// The normalizer settings of a BERT tokenizer, as `tokenizer_config.json` gives them.
public struct TokenizerOptions: Sendable, Equatable {
    /// Lower-case the text (Rust `char::to_lowercase`, scalar by scalar, so no final-sigma rule).
    public var doLowerCase: Bool = true
    /// Remove accents (NFD, then drop nonspacing marks). `nil` follows `doLowerCase`.
    public var stripAccents: Bool? = nil
    /// Make each CJK ideograph a word of its own.
    public var tokenizeChineseChars: Bool = true

    /// Creates options; the defaults are bert-base-uncased's (and transformers' when `tokenizer_config.json` is absent).
    /// - Parameters:
    ///   - doLowerCase: lower-case the text.
    ///   - stripAccents: remove accents; nil follows `doLowerCase`.
    ///   - tokenizeChineseChars: make each CJK ideograph a word of its own.
    public init(doLowerCase: Bool = true, stripAccents: Bool? = nil, tokenizeChineseChars: Bool = true) {
        self.doLowerCase = doLowerCase
        self.stripAccents = stripAccents
        self.tokenizeChineseChars = tokenizeChineseChars
    }

    /// Whether accents are stripped once `nil` is resolved.
    var stripsAccents: Bool { stripAccents ?? doLowerCase }

    /// Reads `tokenizer_config.json` in the folder: `do_lower_case`, `strip_accents` (null: follow
    /// lower-casing) and `tokenize_chinese_chars`, each defaulting as in transformers'
    /// `BertTokenizer`. Without that file, the defaults. The keys transformers 5 ignores for its
    /// Rust-backed BertTokenizer (`do_basic_tokenize`, `never_split`) are ignored here too.
    /// Special tokens other than the standard five, or renamed ones, are not supported and are an
    /// error rather than a silent difference from Hugging Face.
    public static func load(folder: URL) throws -> TokenizerOptions {
        let url = folder.appendingPathComponent("tokenizer_config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return TokenizerOptions() }
        return try parse(InputFile.read(url), file: url.path)
    }

    /// Reads the bytes of a `tokenizer_config.json`; errors name `file` and the key.
    static func parse(_ data: Data, file: String) throws -> TokenizerOptions {
        guard let fields = try JSONValue.parse(data, file: file).object else {
            throw BertologyError.badInput(file, "expected a JSON object")
        }
        /// A flag: true, false, or null / absent (nil).
        func flag(_ key: String) throws -> Bool? {
            guard let value = fields[key], value != .null else { return nil }
            guard let flag = value.bool else { throw BertologyError.badInput(file, at: key, "expected true or false") }
            return flag
        }
        /// A special token is written either as its text or as an AddedToken object with "content".
        func token(_ value: JSONValue, at key: String) throws -> String {
            if let text = value.string ?? value.object?["content"]?.string { return text }
            throw BertologyError.badInput(file, at: key, "expected a token (a string, or an object with \"content\")")
        }

        // Special tokens this tokenizer would not treat as transformers does are refused.
        let standard = [("pad_token", "[PAD]"), ("unk_token", "[UNK]"), ("cls_token", "[CLS]"),
                        ("sep_token", "[SEP]"), ("mask_token", "[MASK]")]
        for (key, expected) in standard {
            guard let value = fields[key], value != .null else { continue }
            guard try token(value, at: key) == expected else {
                throw BertologyError.badInput(file, at: key, "only \(expected) is supported (the special tokens are fixed)")
            }
        }
        // transformers writes extra special tokens as a list, or as a name -> token object.
        for key in ["additional_special_tokens", "extra_special_tokens"] {
            guard let value = fields[key], value != .null else { continue }
            guard let count = value.array?.count ?? value.object?.count else {
                throw BertologyError.badInput(file, at: key, "expected a list of tokens")
            }
            if count > 0 { throw BertologyError.badInput(file, at: key, "extra special tokens are not supported") }
        }
        if let added = fields["added_tokens_decoder"], added != .null {
            guard let table = added.object else {
                throw BertologyError.badInput(file, at: "added_tokens_decoder", "expected an object of id -> token")
            }
            for (id, value) in table.sorted(by: { $0.key < $1.key }) {
                let content = try token(value, at: "added_tokens_decoder.\(id)")
                guard Vocabulary.specialTokens.contains(content) else {
                    throw BertologyError.badInput(
                        file, at: "added_tokens_decoder.\(id)",
                        "added token \"\(content)\" is not supported (only [PAD], [UNK], [CLS], [SEP], [MASK])")
                }
            }
        }
        return TokenizerOptions(doLowerCase: try flag("do_lower_case") ?? true, stripAccents: try flag("strip_accents"),
                                tokenizeChineseChars: try flag("tokenize_chinese_chars") ?? true)
    }
}
