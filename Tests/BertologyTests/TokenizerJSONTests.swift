import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// `tokenizer.json` of each kind against the `tokenizers` library (0.23.3): the fixtures under
/// Fixtures/tokenizers/<kind>/ are small tokenizers built and encoded by
/// tools/reference/tokenizer_json_reference.py (accents, CJK, emoji and ZWJ sequences, fullwidth
/// forms, control characters, runs of spaces, pairs, truncation, pre-split words, GLUE sentences).
/// Ids, type ids and word ids must be identical: exact integers, no tolerance.
@Suite struct TokenizerJSONTests {
    struct Case: Decodable {
        let name: String
        let text: String?
        let pair: String?
        let words: [String]?
        let pairWords: [String]?
        let maxLength: Int?
        let ids: [Int32]
        let typeIds: [Int32]
        let tokens: [String]
        let wordIds: [Int?]
    }

    struct Expected: Decodable {
        let kind: String
        let cases: [Case]
    }

    static let kinds = ["wordpiece", "roberta", "modernbert", "llama", "splitregex", "mixed", "xlmr", "albert", "debertav3"]

    static func folder(_ kind: String) -> URL { TestPaths.fixture("tokenizers/\(kind)") }

    static func expected(_ kind: String) throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: folder(kind).appendingPathComponent("expected.json")))
    }

    static func encode(_ tokenizer: Tokenizer, _ testCase: Case) -> Encoding {
        if let words = testCase.words {
            return tokenizer.encode(words: words, pairWords: testCase.pairWords, maxLength: testCase.maxLength)
        }
        return tokenizer.encode(testCase.text ?? "", pair: testCase.pair, maxLength: testCase.maxLength)
    }

    @Test(arguments: kinds)
    func idsTypeIdsAndWordIdsMatchTheTokenizersLibrary(kind: String) throws {
        let tokenizer = try Tokenizer.load(folder: Self.folder(kind))
        var failures: [String] = []
        for testCase in try Self.expected(kind).cases {
            let encoding = Self.encode(tokenizer, testCase)
            if encoding.inputIds != testCase.ids || encoding.tokenTypeIds != testCase.typeIds
                || encoding.wordIds != testCase.wordIds {
                failures.append("""
                    \(testCase.name): \(String(reflecting: testCase.text ?? testCase.words?.joined(separator: "|") ?? ""))
                      ids      \(encoding.inputIds)
                      expected \(testCase.ids) \(testCase.tokens)
                      got      \(encoding.tokens)
                      types    \(encoding.tokenTypeIds) expected \(testCase.typeIds)
                      words    \(encoding.wordIds.map { $0.map(String.init) ?? "-" }) expected \(testCase.wordIds.map { $0.map(String.init) ?? "-" })
                    """)
            }
        }
        #expect(failures.isEmpty, "\(kind): \(failures.count) cases differ\n\(failures.prefix(6).joined(separator: "\n"))")
    }

    /// The pipeline of each kind is what the file says (so the tests above cover the components).
    @Test func eachKindLoadsItsComponents() throws {
        let wordPiece = try Tokenizer.load(folder: Self.folder("wordpiece"))
        #expect((wordPiece.clsId, wordPiece.sepId, wordPiece.padId, wordPiece.unkId) == (2, 3, 0, 1))
        let roberta = try Tokenizer.load(folder: Self.folder("roberta"))
        #expect((roberta.clsId, roberta.sepId, roberta.padId, roberta.unkId) == (0, 2, 1, -1))
        #expect(roberta.isSpecial(id: 1500) && roberta.vocabulary.token(for: 1500) == "<mask>")
        #expect(roberta.vocabularySize == 1501)
        let xlmr = try Tokenizer.load(folder: Self.folder("xlmr"))
        #expect((xlmr.clsId, xlmr.sepId, xlmr.padId, xlmr.unkId) == (0, 2, 1, 3))
        guard case .unigram = xlmr.pipeline.model else {
            Issue.record("xlmr: expected a Unigram model")
            return
        }
    }

    /// The default model's folder has tokenizer.json and vocab.txt: both give the same tokenizer
    /// (the fused BERT path), on the hard corpus of the wordpiece fixture.
    @Test func defaultModelTokenizerJSONAgreesWithItsVocabTxt() throws {
        let folder = TestPaths.defaultModel
        guard FileManager.default.fileExists(atPath: folder.appendingPathComponent("tokenizer.json").path) else { return }
        let fromJSON = try Tokenizer.load(folder: folder)
        #expect(fromJSON.sourceFile?.hasSuffix("tokenizer.json") == true)
        let fromVocabulary = Tokenizer(vocabulary: try Vocabulary(contentsOf: folder.appendingPathComponent("vocab.txt")),
                                       options: try TokenizerOptions.load(folder: folder))
        for testCase in try Self.expected("wordpiece").cases {
            #expect(Self.encode(fromJSON, testCase) == Self.encode(fromVocabulary, testCase), "\(testCase.name)")
        }
    }

    /// NFC, NFKC, NFKD leave the scalars the reference's Unicode 9.0 data does not know (U+A7F3 of
    /// Unicode 14, U+32FF of 12.1, U+1FBF0 of 13.0 and U+0D3B of 10.0, a starter for it): expected
    /// scalars from tokenizers 0.23.3 `NFKD()/NFC()/NFKC().normalize_str`.
    @Test func compatibilityFormsLeaveScalarsNewerThanTheReferenceData() {
        func run(_ normalizer: Normalizer, _ text: String) -> [UInt32] {
            normalizer.normalize(Array(text.unicodeScalars)).map(\.value)
        }
        let cases: [(String, [[UInt32]])] = [
            ("\u{A7F3}x\u{FB01}", [[0xA7F3, 0x78, 0x66, 0x69], [0xA7F3, 0x78, 0xFB01], [0xA7F3, 0x78, 0x66, 0x69]]),
            ("\u{32FF}\u{E9}", [[0x32FF, 0x65, 0x301], [0x32FF, 0xE9], [0x32FF, 0xE9]]),
            ("e\u{301}\u{1FBF0}", [[0x65, 0x301, 0x1FBF0], [0xE9, 0x1FBF0], [0xE9, 0x1FBF0]]),
            ("a\u{D3B}\u{345}\u{301}", [[0x61, 0xD3B, 0x301, 0x345], [0x61, 0xD3B, 0x301, 0x345], [0x61, 0xD3B, 0x301, 0x345]]),
        ]
        for (text, expected) in cases {
            #expect(run(.nfkd, text) == expected[0], "NFKD \(text.debugDescription)")
            #expect(run(.nfc, text) == expected[1], "NFC \(text.debugDescription)")
            #expect(run(.nfkc, text) == expected[2], "NFKC \(text.debugDescription)")
        }
    }

    /// The analyses classify tokens by the text they stand for: RoBERTa's "Ġ," and XLM-R's "▁," are
    /// punctuation, "Ġthe" is not, and <s>/</s> are its [CLS]/[SEP]; BERT's entries are read as written.
    @Test func tokenClassesReadByteLevelAndMetaspaceTokens() throws {
        let roberta = try Tokenizer.load(folder: Self.folder("roberta"))
        let comma = try #require(roberta.vocabulary.id(for: "\u{120},"))
        let the = try #require(roberta.vocabulary.id(for: "\u{120}the"))
        #expect(roberta.surfaceText(of: comma) == "," && roberta.surfaceText(of: the) == "the")
        let classes = TokenClasses(tokenizer: roberta)
        #expect(classes.isPunctuation(id: comma) && !classes.isPunctuation(id: the))
        #expect((classes.clsId, classes.sepId) == (0, 2))
        let xlmr = try Tokenizer.load(folder: Self.folder("xlmr"))
        let metaComma = try #require(xlmr.vocabulary.id(for: "\u{2581},") ?? xlmr.vocabulary.id(for: ","))
        #expect(TokenClasses(tokenizer: xlmr).isPunctuation(id: metaComma))
        let bert = try Tokenizer.load(folder: Self.folder("wordpiece"))
        let piece = try #require(bert.vocabulary.id(for: "##s"))
        #expect(bert.surfaceText(of: piece) == "##s")
    }

    /// A folder with a SentencePiece model and no tokenizer.json: an error that says how to convert it.
    @Test func sentencePieceOnlyFolderSaysHowToConvert() throws {
        let folder = try TokenizerLoadingTests.folder(["spiece.model": Data([0, 1, 2])])
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: BertologyError.self) { try Tokenizer.load(folder: folder) }
        do {
            _ = try Tokenizer.load(folder: folder)
        } catch let error as BertologyError {
            #expect(error.file?.hasSuffix("spiece.model") == true)
            #expect(error.reason.contains("save_pretrained"))
        }
    }

    /// Malformed files: one error naming the JSON path.
    @Test(arguments: [
        (#"{"model": {"type": "WordPiece", "vocab": {"a": 0}, "unk_token": "[UNK]"}}"#, "model.unk_token"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}"#, "model.merges[0]"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "Nmt"}}"#, "normalizer.type"),
        (#"{"model": {"type": "Unigram", "vocab": [["a", 0.0], ["b"]]}}"#, "model.vocab[1]"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "("}, "behavior": "Isolated"}]}}"#,
         "pre_tokenizer.pretokenizers[0].pattern.Regex"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 5, "content": "<s>"}]}"#,
         "added_tokens[0].id"),
    ])
    func malformedTokenizerJSONNamesTheJSONPath(json: String, path: String) throws {
        do {
            _ = try TokenizerJSON.parse(Data(json.utf8), file: "tokenizer.json")
            Issue.record("no error for \(json)")
        } catch let error as BertologyError {
            #expect(error.file == "tokenizer.json")
            #expect(error.location == path, "\(error)")
        }
    }
}
