import Foundation
import Testing
@testable import Bertology

/// Every input a fuzz target (Fuzz/, tools/fuzz) found to break a promise, minimised and kept in
/// Fuzz/Seeds/<target>/finding-*, so each fuzz run tries it first; here, the behaviour fixed.
@Suite struct FuzzFindingTests {
    static func finding(_ target: String, _ name: String) throws -> Data {
        try Data(contentsOf: TestPaths.repositoryRoot.appendingPathComponent("Fuzz/Seeds/\(target)/\(name)"))
    }

    /// fuzz-config, first minute: `{"model_type":"\n"}` gave a two-line message (the value is quoted
    /// in it). Control characters are now escaped in every message.
    @Test func newlineInAConfigValueGivesAOneLineMessage() throws {
        let input = try Self.finding("fuzz-config", "finding-newline-in-model-type.json")
        #expect(throws: BertologyError.self) { try BertConfig.parse(input, file: "config.json") }
        do {
            _ = try BertConfig.parse(input, file: "config.json")
        } catch let error as BertologyError {
            #expect(error.description == #"config.json: model_type: "\n" is not supported: Bertology runs BERT checkpoints (model_type "bert")"#)
        }
    }

    /// fuzz-vocabulary, first minute: the token "\u{0B}[" twice gave a message with a vertical tab,
    /// which terminals show as a line break.
    @Test func verticalTabInARepeatedTokenGivesAOneLineMessage() throws {
        let input = try Self.finding("fuzz-vocabulary", "finding-vertical-tab-in-token.txt")
        do {
            _ = try Vocabulary(data: input, file: "vocab.txt")
            Issue.record("a vocabulary with a repeated token loaded")
        } catch let error as BertologyError {
            #expect(error.description == #"vocab.txt: line 2: token "\u{B}[" repeats line 1 (Hugging Face would give it id 1 and leave id 0 without a token)"#)
            #expect(!error.description.contains { $0.isNewline })
        }
    }
}
