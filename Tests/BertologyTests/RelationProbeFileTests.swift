import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// The relation-probe file format (JSON Lines): what it accepts, and errors that name the line.
@Suite struct RelationProbeFileTests {
    static func parse(_ text: String) throws -> RelationProbeSet {
        try RelationProbeSet.parse(Data(text.utf8), file: "pairs.jsonl")
    }

    static func error(_ text: String) -> BertologyError? {
        #expect(throws: BertologyError.self) { try parse(text) }
    }

    @Test func theExampleFileParses() throws {
        let set = try RelationProbeSet.load(TestPaths.repositoryRoot.appendingPathComponent("docs/examples/relations.jsonl"))
        #expect(set.sentences.count == 8)
        #expect(set.sentences[0].pairs == [.init(from: 2, to: 3), .init(from: 5, to: 3)])
        #expect(set.sentences[1].line == 2)
    }

    @Test func blankLinesAndExtraKeysAreAllowed() throws {
        let set = try Self.parse("\n{\"id\": 7, \"words\": [\"He\", \"ran\"], \"pairs\": [[0, 1]], \"frame\": \"Motion\"}\n\n")
        #expect(set.sentences.count == 1 && set.sentences[0].line == 2 && set.sentences[0].words == ["He", "ran"])
    }

    @Test func errorsNameTheFileAndLine() {
        let valid = "{\"words\": [\"a\", \"b\"], \"pairs\": [[0, 1]]}"
        let cases: [(String, String, String)] = [
            (valid + "\n{\"words\": [\"a\"", "line 2", "not valid JSON"),
            (valid + "\n[1, 2]", "line 2", "expected a JSON object"),
            ("{\"pairs\": [[0, 1]]}", "line 1", "missing \"words\""),
            ("{\"words\": [], \"pairs\": [[0, 1]]}", "line 1", "non-empty list"),
            ("{\"words\": [\"a\", 3], \"pairs\": [[0, 1]]}", "line 1", "word 1 is not a string"),
            ("{\"words\": [\"a\", \" \"], \"pairs\": [[0, 1]]}", "line 1", "word 1 is empty"),
            ("{\"words\": [\"a\", \"b\"]}", "line 1", "missing \"pairs\""),
            ("{\"words\": [\"a\", \"b\"], \"pairs\": [[0, 2]]}", "line 1", "word index 2 is outside 0..1"),
            ("{\"words\": [\"a\", \"b\"], \"pairs\": [[0]]}", "line 1", "pair 0 is not [from, to]"),
            ("{\"words\": [\"a\", \"b\"], \"pairs\": [[0, 1.5]]}", "line 1", "pair 0 is not [from, to]"),
            ("\n\n", "", "no sentences"),
        ]
        for (text, line, reason) in cases {
            let error = Self.error(text)
            #expect(error?.file == "pairs.jsonl")
            #expect(error?.location == (line.isEmpty ? nil : line), "\(text)")
            #expect(error?.reason.contains(reason) == true, "\(text): \(error?.reason ?? "")")
            #expect(error?.kind == .badInput)
        }
    }

    @Test func aWordCutOffByTruncationCannotBeProbed() throws {
        let tokenizer = try BertTokenizer.load(folder: TestPaths.defaultModel)
        let sentence = try Self.parse("{\"words\": [\"one\", \"two\", \"three\", \"four\", \"five\"], \"pairs\": [[0, 4]]}").sentences[0]
        let encoded = try EncodedRelationSentence(sentence, tokenizer: tokenizer, maxLength: 16, file: "pairs.jsonl")
        #expect(encoded.positions.count == 1 && encoded.positions[0].from == [1] && encoded.positions[0].to == [5])
        let error = #expect(throws: BertologyError.self) {
            try EncodedRelationSentence(sentence, tokenizer: tokenizer, maxLength: 4, file: "pairs.jsonl")
        }
        #expect(error?.location == "line 1" && error?.reason.contains("truncation") == true)
        // A word of several pieces contributes all of them.
        let long = try Self.parse("{\"words\": [\"unbelievably\", \"astounding\"], \"pairs\": [[1, 0]]}").sentences[0]
        let pieces = try EncodedRelationSentence(long, tokenizer: tokenizer, maxLength: 32, file: "pairs.jsonl")
        #expect(pieces.positions[0].from.count > 1 || pieces.positions[0].to.count > 1)
    }
}
