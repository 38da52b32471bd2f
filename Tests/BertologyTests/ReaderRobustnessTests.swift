import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// The JSON reader behind config.json, tokenizer_config.json and safetensors headers, and the
/// one-line error messages: what the fuzz targets and the malformed-input corpus rely on.
@Suite struct ReaderRobustnessTests {
    func parse(_ text: String) throws -> JSONValue { try JSONValue.parse(Data(text.utf8), file: "f.json") }

    func parseError(_ bytes: [UInt8]) -> String? {
        do {
            _ = try JSONValue.parse(Data(bytes), file: "f.json")
            return nil
        } catch let error as BertologyError {
            return error.description
        } catch {
            return "not a BertologyError: \(error)"
        }
    }

    func parseError(_ text: String) -> String? { parseError(Array(text.utf8)) }

    // MARK: - JSON: what is accepted

    @Test func validDocumentsParseAsJSONSerializationReadsThem() throws {
        #expect(try parse(#" {"a": [1, -2.5e3, 0, true, false, null, "x"], "b": {}} "#) == .object([
            "a": .array([.number(1), .number(-2500), .number(0), .bool(true), .bool(false), .null, .string("x")]),
            "b": .object([:]),
        ]))
        #expect(try parse(#""\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#) == .string("\"\\/\u{8}\u{C}\n\r\té😀"))
        #expect(try parse("\u{FEFF}[]") == .array([]))  // a UTF-8 byte-order mark is skipped
        #expect(try parse("1E+2") == .number(100))
        #expect(try parse("-0.000001") == .number(-0.000001))
        #expect(try parse("\"e\u{301} 中文\"") == .string("e\u{301} 中文"))
        // Every fixture config agrees with Foundation's reader.
        for model in ["tiny-classifier", "tiny-regression", "tiny-encoder-bf16"] {
            let data = try Data(contentsOf: TestPaths.fixture("models/\(model)/config.json"))
            let ours = try #require(try JSONValue.parse(data, file: model).object)
            let foundation = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(Set(ours.keys) == Set(foundation.keys))
            #expect(ours["hidden_size"]?.integer == foundation["hidden_size"] as? Int)
            #expect(ours["layer_norm_eps"]?.double == foundation["layer_norm_eps"] as? Double)
        }
    }

    // MARK: - JSON: every refusal names the line and column

    @Test func invalidDocumentsNameTheLineAndColumn() {
        let cases: [(String, String)] = [
            ("", "line 1, column 1: the document is empty"),
            ("{\n  \"a\": 1,\n  \"a\": 2\n}", "line 3, column 3: key \"a\" repeats"),
            ("{\"a\" 1}", "line 1, column 6: expected ':' after the key, found '1'"),
            ("[1 2]", "line 1, column 4: expected ',' or ']', found '2'"),
            ("{\"a\": 1,}", "line 1, column 9: expected a string key in quotes"),
            ("[1,]", "line 1, column 4: expected a value, found ']'"),
            ("01", "line 1, column 2: a number cannot start with 0"),
            ("1.", "line 1, column 3: expected a digit after '.'"),
            ("1e", "line 1, column 3: expected a digit in the exponent"),
            ("-", "line 1, column 2: expected a digit"),
            ("1e400", "line 1, column 1: the number 1e400 is out of range"),
            ("NaN", "line 1, column 1: expected a value, found 'N'"),
            ("tru", "line 1, column 1: expected a value, found 't'"),
            ("\"a\tb\"", "line 1, column 3: control character U+0009 inside a string (write it as an escape)"),
            (#""\ud800""#, "line 1, column 2: lone surrogate \\uD800 in a string"),
            (#""\udc00x""#, "line 1, column 2: lone surrogate \\uDC00 in a string"),
            (#""\u12""#, "line 1, column 6: expected four hex digits after \\u"),
            (#""\x""#, "line 1, column 2: unknown escape in a string"),
            ("\"abc", "line 1, column 5: the document ends inside a string"),
            ("{\"a\": [1, 2", "line 1, column 12: the document ends inside a list"),
            ("{} {}", "line 1, column 4: unexpected text after the JSON value"),
            (String(repeating: "[", count: 600), "line 1, column 513: nested more than 512 deep"),
        ]
        for (text, reason) in cases {
            #expect(parseError(text) == "f.json: not valid JSON (\(reason))", "\(text.prefix(40))")
        }
    }

    @Test func bytesThatAreNotUTF8AreRefusedWhereTheyStand() {
        // Latin-1, an overlong form, a UTF-8-encoded surrogate, past U+10FFFF, a cut sequence.
        for bytes: [UInt8] in [[0xE9], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE4, 0xB8]] {
            #expect(parseError([0x22, 0x61] + bytes + [0x22]) == "f.json: not valid JSON (line 1, column 3: not UTF-8)")
        }
        // UTF-16 (what a Windows editor may save): refused, as transformers' reader refuses it.
        #expect(parseError(Array("{}".data(using: .utf16)!)) != nil)
    }

    @Test func deepNestingIsRefusedWithoutExhaustingTheStack() {
        let deep = String(repeating: "[", count: 1_000_000) + String(repeating: "]", count: 1_000_000)
        #expect(parseError(deep)?.contains("nested more than 512 deep") == true)
    }

    // MARK: - Messages are one line

    @Test func controlCharactersInMessagesAreEscaped() {
        let error = BertologyError.badInput("a\nb.json", at: "tensor x\ry", "token \"\u{1B}[31m\t\u{2028}\"")
        #expect(error.description == #"a\nb.json: tensor x\ry: token "\u{1B}[31m\t\u{2028}""#)
        #expect(BertologyError.badInput("f", "plain é 中文").description == "f: plain é 中文")
    }

    @Test func hugeQuotedNamesAreShortenedInTheMiddle() {
        let name = String(repeating: "a", count: 10_000) + "END"
        let error = BertologyError.badInput("model.safetensors", at: "tensor \(name)", "unknown dtype \(name)")
        #expect(error.description.utf8.count < 1_100)
        #expect(error.description.hasSuffix("aaaEND"))
        #expect(error.description.contains("characters left out"))
    }

    // MARK: - Files

    @Test func unreadableInputsSayWhyInPlainWords() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-input-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let missing = folder.appendingPathComponent("missing.txt")
        #expect(throws: BertologyError.io(missing.path, "cannot read: no such file")) { try TextLines.read(missing) }
        #expect(throws: BertologyError.io(folder.path, "cannot read: it is a folder")) { try TextLines.read(folder) }
        let vocabulary = folder.appendingPathComponent("vocab.txt")
        try Data("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n".utf8).write(to: vocabulary)
        #expect(try Vocabulary(contentsOf: vocabulary).count == 5)
    }

    @Test func severalProblemsReportTheSameOneEveryTime() throws {
        // Dictionary order changes from run to run; the readers sort, so the message does not.
        let header = #"{"b":{"dtype":"Q1","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"Q2","shape":[1],"data_offsets":[0,4]},"c":5}"#
        var file = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(contentsOf: Array(header.utf8) + [0, 0, 0, 0])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-\(UUID().uuidString).safetensors")
        try file.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: BertologyError.badInput(url.path, at: "tensor a", "unknown dtype Q2")) { try SafeTensorsFile(url: url) }
        let config = #"{"vocab_size": 8, "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 1, "intermediate_size": 4, "id2label": {"z": "x", "y": "x"}}"#
        #expect(throws: BertologyError.badInput("config.json", at: "id2label", "entry \"y\" is not index -> name")) {
            try BertConfig.parse(Data(config.utf8), file: "config.json")
        }
    }
}
