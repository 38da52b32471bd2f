import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// Loading vocab.txt and tokenizer_config.json: what is accepted (as the Rust reference reads it)
/// and the errors for what is not, each naming the file and line.
@Suite struct TokenizerLoadingTests {
    static let specials = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"

    /// A fresh folder holding the given files.
    static func folder(_ files: [String: Data]) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("bertology-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, data) in files { try data.write(to: url.appendingPathComponent(name)) }
        return url
    }

    static func vocabularyError(_ bytes: [UInt8]) throws -> BertologyError? {
        let folder = try folder(["vocab.txt": Data(bytes)])
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            _ = try Vocabulary(contentsOf: folder.appendingPathComponent("vocab.txt"))
            return nil
        } catch let error as BertologyError {
            #expect(error.file?.hasSuffix("/vocab.txt") == true, "\(error)")
            return error
        }
    }

    /// transformers 5.24 `from_pretrained` on a folder holding only this vocab.txt gives
    /// [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, foo 5, bar 6, and encodes "foo bar [UNK]" as
    /// [2, 5, 6, 1, 3]: CRLF and trailing whitespace are removed from each line.
    @Test func vocabularyLinesAreReadAsTheRustReferenceReadsThem() throws {
        let folder = try Self.folder(["vocab.txt": Data("[PAD]\r\n[UNK]  \n[CLS]\n[SEP]\n[MASK]\nfoo \t\nbar".utf8)])
        defer { try? FileManager.default.removeItem(at: folder) }
        let tokenizer = try BertTokenizer.load(folder: folder)
        #expect(tokenizer.vocabulary.count == 7)
        #expect(tokenizer.vocabulary.id(for: "foo") == 5)
        #expect(tokenizer.vocabulary.token(for: 6) == "bar")
        #expect(tokenizer.vocabulary.token(for: 7) == nil)
        #expect(tokenizer.vocabulary.token(for: -1) == nil)
        #expect(tokenizer.encode("foo bar [UNK]").inputIds == [2, 5, 6, 1, 3])
        #expect((tokenizer.padId, tokenizer.unkId, tokenizer.clsId, tokenizer.sepId) == (0, 1, 2, 3))
        #expect(tokenizer.options == TokenizerOptions())
    }

    @Test func vocabularyErrorsNameTheFileAndLine() throws {
        let empty = try #require(try Self.vocabularyError([]))
        #expect(empty.reason.contains("empty") && empty.location == nil)

        let blankLine = try #require(try Self.vocabularyError(Array((Self.specials + "a\n\nb\n").utf8)))
        #expect(blankLine.location == "line 7" && blankLine.reason.contains("empty token"))

        let spaces = try #require(try Self.vocabularyError(Array((Self.specials + "a\n \t\n").utf8)))
        #expect(spaces.location == "line 7")

        let duplicate = try #require(try Self.vocabularyError(Array((Self.specials + "a\nb\na\n").utf8)))
        #expect(duplicate.location == "line 8" && duplicate.reason.contains("repeats line 6"))
        #expect(duplicate.kind == .badInput && duplicate.exitStatus == 1)

        let invalid = try #require(try Self.vocabularyError(Array((Self.specials + "a\n").utf8) + [0xC3, 0x28, 0x0A]))
        #expect(invalid.location == "line 7" && invalid.reason.contains("UTF-8"))

        let missing = try #require(try Self.vocabularyError(Array("[PAD]\n[UNK]\n[CLS]\n[SEP]\n".utf8)))
        #expect(missing.reason.contains("[MASK]"))

        let bom = try #require(try Self.vocabularyError([0xEF, 0xBB, 0xBF] + Array(Self.specials.utf8)))
        #expect(bom.location == "line 1" && bom.reason.contains("byte-order mark"))
    }

    @Test func vocabularyFromTokensNamesTheTokenIndex() {
        #expect(throws: BertologyError.badInput(nil, at: "token 5", "empty token")) {
            try Vocabulary(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ""])
        }
        #expect(throws: BertologyError.self) { try Vocabulary(tokens: []) }
    }

    /// Swift String equality is canonical equivalence; the reference compares bytes.
    @Test func tokensAreComparedByteForByte() throws {
        let precomposed = "\u{E9}", decomposed = "e\u{301}"
        #expect(precomposed == decomposed)  // why the table cannot key on String
        let vocabulary = try Vocabulary(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", precomposed, decomposed])
        #expect(vocabulary.id(for: precomposed) == 5)
        #expect(vocabulary.id(for: decomposed) == 6)
        #expect(vocabulary.id(for: "e") == nil)
        #expect(vocabulary.id(for: "") == nil)
        let cased = BertTokenizer(vocabulary: vocabulary, options: TokenizerOptions(doLowerCase: false))
        #expect(cased.encode(precomposed + " " + decomposed).inputIds == [2, 5, 6, 3])
    }

    @Test func missingVocabularyFileIsAnIOErrorNamingIt() throws {
        let folder = try Self.folder([:])
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            _ = try BertTokenizer.load(folder: folder)
            Issue.record("expected an error")
        } catch let error as BertologyError {
            #expect(error.kind == .io && error.file == folder.appendingPathComponent("vocab.txt").path)
        }
    }

    // MARK: - tokenizer_config.json

    static func options(_ config: String) throws -> Result<TokenizerOptions, BertologyError> {
        let folder = try folder(["tokenizer_config.json": Data(config.utf8)])
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            return .success(try TokenizerOptions.load(folder: folder))
        } catch let error as BertologyError {
            #expect(error.file?.hasSuffix("/tokenizer_config.json") == true, "\(error)")
            return .failure(error)
        }
    }

    @Test func optionsComeFromTokenizerConfig() throws {
        let defaults = try TokenizerOptions.load(folder: FileManager.default.temporaryDirectory
            .appendingPathComponent("no-such-folder-\(UUID().uuidString)"))
        #expect(defaults == TokenizerOptions(doLowerCase: true, stripAccents: nil, tokenizeChineseChars: true))
        #expect(try Self.options("{}").get() == TokenizerOptions())
        let cased = try Self.options("""
            {"do_lower_case": false, "strip_accents": true, "tokenize_chinese_chars": false,
             "never_split": null, "do_basic_tokenize": true, "model_max_length": 512, "cls_token": "[CLS]",
             "mask_token": {"content": "[MASK]", "lstrip": false}, "additional_special_tokens": [],
             "added_tokens_decoder": {"0": {"content": "[PAD]", "special": true}}}
            """).get()
        #expect(cased == TokenizerOptions(doLowerCase: false, stripAccents: true, tokenizeChineseChars: false))
        #expect(try Self.options(#"{"strip_accents": null}"#).get().stripAccents == nil)
        #expect(try Self.options(#"{"strip_accents": false}"#).get().stripAccents == false)
    }

    @Test func badTokenizerConfigIsAnErrorNamingTheFile() throws {
        guard case .failure(let json) = try Self.options("{\"do_lower_case\": tru") else {
            Issue.record("expected an error for bad JSON")
            return
        }
        #expect(json.reason.contains("not valid JSON"))
        guard case .failure(let type) = try Self.options(#"{"do_lower_case": "yes"}"#) else {
            Issue.record("expected an error for a string flag")
            return
        }
        #expect(type.location == "do_lower_case")
        guard case .failure(let special) = try Self.options(#"{"unk_token": "<unk>"}"#) else {
            Issue.record("expected an error for a renamed special token")
            return
        }
        #expect(special.location == "unk_token")
        guard case .failure(let extra) = try Self.options(#"{"additional_special_tokens": ["[E1]"]}"#) else {
            Issue.record("expected an error for extra special tokens")
            return
        }
        #expect(extra.location == "additional_special_tokens")
        guard case .failure(let added) = try Self.options(#"{"added_tokens_decoder": {"5": {"content": "<x>"}}}"#) else {
            Issue.record("expected an error for an added token")
            return
        }
        #expect(added.location == "added_tokens_decoder.5")
    }

    /// The default model's tokenizer_config.json and tokenizer.json: uncased, [PAD] 0, [UNK] 100,
    /// [CLS] 101, [SEP] 102, 30,522 tokens.
    @Test func defaultModelLoads() throws {
        let tokenizer = try TokenizerReferenceTests.requireDefaultTokenizer()
        #expect(tokenizer.options == TokenizerOptions(doLowerCase: true, stripAccents: nil, tokenizeChineseChars: true))
        #expect(tokenizer.vocabulary.count == 30_522)
        #expect((tokenizer.padId, tokenizer.unkId, tokenizer.clsId, tokenizer.sepId) == (0, 100, 101, 102))
        #expect(tokenizer.vocabulary.id(for: "[MASK]") == 103)
    }
}
