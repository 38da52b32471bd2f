import Foundation

/// The normalizer settings of a BERT tokenizer, as `tokenizer_config.json` gives them.
public struct TokenizerOptions: Sendable, Equatable {
    /// Lower-case the text (Rust `char::to_lowercase`, scalar by scalar, so no final-sigma rule).
    public var doLowerCase: Bool = true
    /// Remove accents (NFD, then drop nonspacing marks). `nil` follows `doLowerCase`.
    public var stripAccents: Bool? = nil
    /// Make each CJK ideograph a word of its own.
    public var tokenizeChineseChars: Bool = true

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
        let file = url.path
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw BertologyError.io(file, "cannot read (\(error.localizedDescription))")
        }
        let config: TokenizerConfigFile
        do {
            config = try JSONDecoder().decode(TokenizerConfigFile.self, from: data)
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw BertologyError.badInput(file, at: key, "wrong type (\(context.debugDescription))")
        } catch {
            throw BertologyError.badInput(file, "not valid JSON (\(error.localizedDescription))")
        }
        try config.checkSpecialTokens(file: file)
        return TokenizerOptions(doLowerCase: config.do_lower_case ?? true, stripAccents: config.strip_accents,
                                tokenizeChineseChars: config.tokenize_chinese_chars ?? true)
    }
}

/// The keys of tokenizer_config.json that change what a BERT tokenizer does; the rest are ignored.
private struct TokenizerConfigFile: Decodable {
    var do_lower_case: Bool?
    var strip_accents: Bool?
    var tokenize_chinese_chars: Bool?
    var pad_token: SpecialToken?
    var unk_token: SpecialToken?
    var cls_token: SpecialToken?
    var sep_token: SpecialToken?
    var mask_token: SpecialToken?
    var additional_special_tokens: [SpecialToken]?
    var extra_special_tokens: SpecialTokenCollection?
    var added_tokens_decoder: [String: SpecialToken]?

    /// A special token is written either as its text or as an AddedToken object with "content".
    struct SpecialToken: Decodable {
        var content: String
        private enum Keys: String, CodingKey { case content }
        init(from decoder: Decoder) throws {
            if let text = try? decoder.singleValueContainer().decode(String.self) {
                content = text
            } else {
                content = try decoder.container(keyedBy: Keys.self).decode(String.self, forKey: .content)
            }
        }
    }

    /// transformers writes extra special tokens as a list or as a name → token object.
    struct SpecialTokenCollection: Decodable {
        var count: Int
        init(from decoder: Decoder) throws {
            if let list = try? decoder.singleValueContainer().decode([SpecialToken].self) {
                count = list.count
            } else {
                count = try decoder.singleValueContainer().decode([String: SpecialToken].self).count
            }
        }
    }

    /// Rejects special tokens this tokenizer would not treat as transformers does.
    func checkSpecialTokens(file: String) throws {
        let standard: [(String, SpecialToken?, String)] = [
            ("pad_token", pad_token, "[PAD]"), ("unk_token", unk_token, "[UNK]"), ("cls_token", cls_token, "[CLS]"),
            ("sep_token", sep_token, "[SEP]"), ("mask_token", mask_token, "[MASK]"),
        ]
        for (key, token, expected) in standard where token != nil && token?.content != expected {
            throw BertologyError.badInput(file, at: key, "only \(expected) is supported (the special tokens are fixed)")
        }
        if let extra = additional_special_tokens, !extra.isEmpty {
            throw BertologyError.badInput(file, at: "additional_special_tokens", "extra special tokens are not supported")
        }
        if let extra = extra_special_tokens, extra.count > 0 {
            throw BertologyError.badInput(file, at: "extra_special_tokens", "extra special tokens are not supported")
        }
        for (id, token) in (added_tokens_decoder ?? [:]).sorted(by: { $0.key < $1.key })
        where !Vocabulary.specialTokens.contains(token.content) {
            throw BertologyError.badInput(
                file, at: "added_tokens_decoder.\(id)",
                "added token \"\(token.content)\" is not supported (only [PAD], [UNK], [CLS], [SEP], [MASK])")
        }
    }
}
