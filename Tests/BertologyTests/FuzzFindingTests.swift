import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

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
            #expect(error.description == #"config.json: model_type: "\n" is not supported: Bertology loads bert, roberta, xlm-roberta, distilbert, electra, albert"#)
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

    /// fuzz-glue-tsv, after about 80 s: a header of 400 NUL bytes is quoted in the "no column"
    /// message, and each NUL escaped as `\u{0}` after shortening made a 2,100-character line.
    /// Messages are now escaped, then shortened.
    @Test func aHeaderOfNULBytesGivesAShortMessage() throws {
        let input = try Self.finding("fuzz-glue-tsv", "finding-nul-bytes-in-header.tsv")
        let file = input.drop { $0 != 0x0A }.dropFirst()  // the first line names the layout: "RTE dev"
        do {
            _ = try GLUEDataset.parse(Data(file), task: .rte, split: .dev, file: "RTE/dev.tsv")
            Issue.record("a header of NUL bytes was accepted")
        } catch let error as BertologyError {
            #expect(error.description.hasPrefix(#"RTE/dev.tsv: line 1: the header has no column "sentence1""#))
            #expect(error.description.contains(#"\u{0}\u{0}"#))
            #expect(error.description.unicodeScalars.count < 1_000, "\(error.description.unicodeScalars.count) characters")
            #expect(error.description.contains("characters left out"))
        }
    }

    /// fuzz-safetensors, replaying its saved corpus once the oracle counted characters: a header
    /// whose tensor name and dtype are each hundreds of brackets gave a 1,004-character line (the
    /// location shortened to 300 and the reason to 600, each plus the note of what was left out,
    /// plus the file name). The note now counts within each limit.
    @Test func aLongTensorNameAndDtypeGiveAMessageWithinTheBound() throws {
        let header = try Self.finding("fuzz-safetensors", "finding-long-name-and-dtype.json")
        // As the target does: the 8-byte length, the header, the corpus checkpoint's data section.
        var file = Data()
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(header)
        file.append(Data(count: 1_512))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-finding-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let valid = TestPaths.repositoryRoot.appendingPathComponent("Tests/MalformedInputs/valid")
        for name in ["config.json", "vocab.txt"] {
            try FileManager.default.copyItem(at: valid.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        try file.write(to: folder.appendingPathComponent("model.safetensors"))
        do {
            _ = try Checkpoint.load(folder)
            Issue.record("the header was accepted")
        } catch let error as BertologyError {
            let fileLength = error.file?.unicodeScalars.count ?? 0
            #expect(error.description.unicodeScalars.count <= fileLength + 300 + 600 + 4, "\(error.description.unicodeScalars.count) characters")
            #expect(error.description.contains("unknown dtype"))
            #expect(error.description.contains("characters left out"))
            #expect(!error.description.contains { $0.isNewline })
        }
    }

    @Test func shortenedTextsKeepToTheirLimit() {
        for count in [301, 400, 10_000, 1_000_000] {
            let text = String(repeating: "x", count: count)
            #expect(BertologyError.elided(text, limit: 300).unicodeScalars.count <= 300)
        }
        #expect(BertologyError.elided("short", limit: 300) == "short")
    }
}
