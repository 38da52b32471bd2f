import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// The tokenizer against transformers 5 `BertTokenizer` (Rust `tokenizers` backend), through the
/// fixtures of tools/reference/tokenizer_reference.py (its docstring documents the formats).
@Suite struct TokenizerReferenceTests {
    static let fixtureFolder = TestPaths.fixture("tokenizer")

    /// The default model's tokenizer, loaded once; a missing model is a failure, not a skip.
    static let defaultTokenizer: Result<BertTokenizer, BertologyError> = {
        do {
            return .success(try BertTokenizer.load(folder: TestPaths.defaultModel))
        } catch let error as BertologyError {
            return .failure(error)
        } catch {
            return .failure(BertologyError.io(TestPaths.defaultModel.path, "\(error)"))
        }
    }()

    static func requireDefaultTokenizer() throws -> BertTokenizer {
        switch defaultTokenizer {
        case .success(let tokenizer): return tokenizer
        case .failure(let error):
            Issue.record("the default model is needed (run tools/setup): \(error)")
            throw error
        }
    }

    // MARK: - Hard strings

    struct HardStrings: Decodable {
        struct TokenizerSpec: Decodable {
            var vocab: String
            var doLowerCase: Bool
            var stripAccents: Bool?
            var tokenizeChineseChars: Bool
        }
        struct Expected: Decodable {
            var tokens: [String]
            var ids: [Int32]
            var typeIds: [Int32]
            var attentionMask: [Int32]
            var wordIds: [Int?]
            var sequenceIds: [Int?]
            var truncated: Bool
            var tokenized: [String]?
        }
        struct Case: Decodable {
            var name: String
            var tokenizer: String
            var text: String?
            var pair: String?
            var words: [String]?
            var pairWords: [String]?
            var maxLength: Int?
            var expected: Expected
        }
        var tokenizers: [String: TokenizerSpec]
        var cases: [Case]
    }

    @Test func hardStringsMatchTransformers() throws {
        let data = try Data(contentsOf: Self.fixtureFolder.appendingPathComponent("hard-strings.json"))
        let fixture = try JSONDecoder().decode(HardStrings.self, from: data)
        var tokenizers: [String: BertTokenizer] = [:]
        for (name, spec) in fixture.tokenizers {
            let options = TokenizerOptions(doLowerCase: spec.doLowerCase, stripAccents: spec.stripAccents,
                                           tokenizeChineseChars: spec.tokenizeChineseChars)
            if spec.vocab == "default-model" {
                let tokenizer = try Self.requireDefaultTokenizer()
                #expect(tokenizer.options == options, "the default model's tokenizer_config.json gives \(tokenizer.options)")
                tokenizers[name] = tokenizer
            } else {
                let vocabulary = try Vocabulary(contentsOf: TestPaths.fixture(spec.vocab))
                tokenizers[name] = BertTokenizer(vocabulary: vocabulary, options: options)
            }
        }
        #expect(fixture.cases.count > 150)
        var matched = 0
        for testCase in fixture.cases {
            let tokenizer = try #require(tokenizers[testCase.tokenizer])
            let encoding: Encoding
            if let words = testCase.words {
                encoding = tokenizer.encode(words: words, pairWords: testCase.pairWords, maxLength: testCase.maxLength)
            } else {
                let text = try #require(testCase.text)
                encoding = tokenizer.encode(text, pair: testCase.pair, maxLength: testCase.maxLength)
                if let tokenized = testCase.expected.tokenized {
                    #expect(tokenizer.tokenize(text) == tokenized, "\(testCase.name): tokenize")
                }
            }
            let expected = testCase.expected
            let same = encoding.tokens == expected.tokens && encoding.inputIds == expected.ids
                && encoding.tokenTypeIds == expected.typeIds && encoding.attentionMask == expected.attentionMask
                && encoding.wordIds == expected.wordIds && encoding.sequenceIds == expected.sequenceIds
                && encoding.truncated == expected.truncated && encoding.count == expected.ids.count
            #expect(same, """
                \(testCase.name) [\(testCase.tokenizer)]
                  tokens   \(encoding.tokens)
                  expected \(expected.tokens)
                  ids \(encoding.inputIds) expected \(expected.ids)
                  types \(encoding.tokenTypeIds) expected \(expected.typeIds)
                  words \(encoding.wordIds) expected \(expected.wordIds)
                  sequences \(encoding.sequenceIds) expected \(expected.sequenceIds)
                  truncated \(encoding.truncated) expected \(expected.truncated)
                """)
            if same { matched += 1 }
        }
        #expect(matched == fixture.cases.count, "\(matched) of \(fixture.cases.count) hard strings identical")
    }

    // MARK: - GLUE dev sets

    /// FNV-1a 64 of input_ids ++ token_type_ids ++ word_ids (nil as 0xFFFFFFFF), each value as 4
    /// bytes little-endian: the hash of tools/reference/tokenizer_reference.py.
    static func referenceHash(_ encoding: Encoding) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func feed(_ value: UInt32) {
            for shift in stride(from: 0, to: 32, by: 8) {
                hash = (hash ^ UInt64((value >> UInt32(shift)) & 0xFF)) &* 0x0000_0100_0000_01B3
            }
        }
        for id in encoding.inputIds { feed(UInt32(bitPattern: id)) }
        for type in encoding.tokenTypeIds { feed(UInt32(bitPattern: type)) }
        for word in encoding.wordIds { feed(word.map { UInt32($0) } ?? 0xFFFF_FFFF) }
        return hash
    }

    struct GlueTask: Sendable {
        var name: String
        var columns: [(index: Int, name: String)]
        var hasHeader: Bool
    }

    /// The text columns of each dev.tsv (see the GLUE README), as the fixture names them.
    static let glueTasks = [
        GlueTask(name: "CoLA", columns: [(3, "sentence")], hasHeader: false),
        GlueTask(name: "MRPC", columns: [(3, "#1 String"), (4, "#2 String")], hasHeader: true),
        GlueTask(name: "RTE", columns: [(1, "sentence1"), (2, "sentence2")], hasHeader: true),
        GlueTask(name: "SST-2", columns: [(0, "sentence")], hasHeader: true),
        GlueTask(name: "STS-B", columns: [(7, "sentence1"), (8, "sentence2")], hasHeader: true),
        GlueTask(name: "QNLI", columns: [(1, "question"), (2, "sentence")], hasHeader: true),
    ]

    /// Lines of a GLUE file, split on LF only, a leading BOM dropped, fields split on TAB (no quoting).
    static func glueRows(_ task: GlueTask) throws -> [Int: [String]] {
        let url = TestPaths.glue.appendingPathComponent(task.name).appendingPathComponent("dev.tsv")
        guard var text = String(data: try Data(contentsOf: url), encoding: .utf8) else {
            throw BertologyError.badInput(url.path, "not UTF-8")
        }
        if text.unicodeScalars.first == "\u{FEFF}" { text.unicodeScalars.removeFirst() }
        var rows: [Int: [String]] = [:]
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if task.hasHeader && index == 0 { continue }
            if line.isEmpty { continue }
            rows[index + 1] = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        }
        return rows
    }

    struct FullEntry: Decodable {
        var task: String
        var line: Int
        var column: String
        var ids: [Int32]
        var typeIds: [Int32]
        var wordIds: [Int?]
    }

    struct GlueOutcome: Sendable {
        var compared = 0
        var fullCompared = 0
        var mismatches: [String] = []
        var mismatchCount = 0
    }

    @Test func glueDevSetsMatchTransformers() async throws {
        let tokenizer = try Self.requireDefaultTokenizer()
        let fullData = try Data(contentsOf: Self.fixtureFolder.appendingPathComponent("glue-full.json"))
        let full = try JSONDecoder().decode([String: [FullEntry]].self, from: fullData)["entries"] ?? []
        var fullByKey: [String: FullEntry] = [:]
        for entry in full { fullByKey["\(entry.task)\t\(entry.line)\t\(entry.column)"] = entry }
        let sharedFull = fullByKey

        // Two tasks at a time (two cores); each task's rows in order.
        let outcomes = try await withThrowingTaskGroup(of: GlueOutcome.self) { group in
            for task in Self.glueTasks {
                group.addTask { try Self.check(task, tokenizer: tokenizer, full: sharedFull) }
            }
            var all: [GlueOutcome] = []
            for try await outcome in group { all.append(outcome) }
            return all
        }
        let compared = outcomes.reduce(0) { $0 + $1.compared }
        let mismatchCount = outcomes.reduce(0) { $0 + $1.mismatchCount }
        for message in outcomes.flatMap(\.mismatches).prefix(20) { Issue.record(Comment(rawValue: message)) }
        #expect(mismatchCount == 0, "\(mismatchCount) of \(compared) GLUE encodings differ from transformers")
        // 17,138 sentences (both sides of the pairs) + 7,721 pairs: see the fixture files.
        #expect(compared == 24_859, "compared \(compared) encodings")

        // The stored full encodings, field by field.
        let fullCompared = outcomes.reduce(0) { $0 + $1.fullCompared }
        #expect(fullCompared == full.count && fullCompared > 200, "compared \(fullCompared) full encodings")
    }

    static func encode(_ task: GlueTask, fields: [String], column: String, tokenizer: BertTokenizer) -> Encoding {
        if column == "pair" {
            return tokenizer.encode(fields[task.columns[0].index], pair: fields[task.columns[1].index], maxLength: 128)
        }
        let index = task.columns.first { $0.name == column }!.index
        return tokenizer.encode(fields[index])
    }

    static func check(_ task: GlueTask, tokenizer: BertTokenizer, full: [String: FullEntry]) throws -> GlueOutcome {
        let fixture = Self.fixtureFolder.appendingPathComponent("glue-\(task.name).tsv")
        let reference = try String(contentsOf: fixture, encoding: .utf8)
        let rows = try glueRows(task)
        var outcome = GlueOutcome()
        var seenLines = Set<Int>()
        for line in reference.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard parts.count == 4, let lineNumber = Int(parts[0]), let count = Int(parts[2]),
                  let hash = UInt64(parts[3], radix: 16) else {
                outcome.mismatchCount += 1
                outcome.mismatches.append("\(fixture.lastPathComponent): malformed line \(line)")
                continue
            }
            seenLines.insert(lineNumber)
            let column = String(parts[1])
            guard let fields = rows[lineNumber] else {
                outcome.mismatchCount += 1
                outcome.mismatches.append("\(task.name) line \(lineNumber): missing from dev.tsv")
                continue
            }
            let encoding = encode(task, fields: fields, column: column, tokenizer: tokenizer)
            outcome.compared += 1
            if encoding.count != count || referenceHash(encoding) != hash {
                outcome.mismatchCount += 1
                var message = "\(task.name) line \(lineNumber) column \(column): \(encoding.count) tokens "
                    + "(reference \(count)), hash \(String(referenceHash(encoding), radix: 16)) (reference "
                    + "\(parts[3]))\n  ours:      \(encoding.tokens)"
                if let entry = full["\(task.name)\t\(lineNumber)\t\(column)"] {
                    message += "\n  reference: \(entry.ids.map { tokenizer.vocabulary.token(for: $0) ?? "?" })"
                }
                outcome.mismatches.append(message)
            }
        }
        for entry in full.values where entry.task == task.name {
            guard let fields = rows[entry.line] else { continue }
            let encoding = encode(task, fields: fields, column: entry.column, tokenizer: tokenizer)
            outcome.fullCompared += 1
            if encoding.inputIds != entry.ids || encoding.tokenTypeIds != entry.typeIds || encoding.wordIds != entry.wordIds {
                outcome.mismatchCount += 1
                outcome.mismatches.append("\(task.name) line \(entry.line) column \(entry.column) (full ids):\n"
                    + "  ours:      \(encoding.tokens) words \(encoding.wordIds)\n"
                    + "  reference: \(entry.ids.map { tokenizer.vocabulary.token(for: $0) ?? "?" }) words \(entry.wordIds)")
            }
        }
        if seenLines.count != rows.count {
            outcome.mismatchCount += 1
            outcome.mismatches.append("\(task.name): the fixture covers \(seenLines.count) rows, dev.tsv has \(rows.count)")
        }
        return outcome
    }
}
