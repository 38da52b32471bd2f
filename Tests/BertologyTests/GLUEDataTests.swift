import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// The GLUE readers on the real files in ../shared/data/glue (sizes and label counts from its README),
/// on the project's GLUE-format files (Fixtures/glue-format: the tasks and splits the shared folder lacks),
/// and on malformed files, each of which must give the file, the line and the reason.
@Suite struct GLUEDataTests {
    struct RealFile: Sendable, CustomStringConvertible {
        let task: GLUETask
        let split: GLUESplit
        let rows: Int
        /// Examples per class, in the order of `task.labels`; nil for STS-B.
        let classCounts: [Int]?
        /// STS-B: the mean score, as the README gives it (3 decimals).
        let meanScore: Double?
        var description: String { "\(task) \(split)" }
    }

    static let realFiles = [
        RealFile(task: .cola, split: .dev, rows: 1043, classCounts: [322, 721], meanScore: nil),
        RealFile(task: .cola, split: .train, rows: 8551, classCounts: [2528, 6023], meanScore: nil),
        RealFile(task: .mrpc, split: .dev, rows: 408, classCounts: [129, 279], meanScore: nil),
        RealFile(task: .mrpc, split: .train, rows: 3668, classCounts: [1194, 2474], meanScore: nil),
        RealFile(task: .rte, split: .dev, rows: 277, classCounts: [146, 131], meanScore: nil),
        RealFile(task: .rte, split: .train, rows: 2490, classCounts: [1249, 1241], meanScore: nil),
        RealFile(task: .sst2, split: .dev, rows: 872, classCounts: [428, 444], meanScore: nil),
        RealFile(task: .sst2, split: .train, rows: 67349, classCounts: [29780, 37569], meanScore: nil),
        RealFile(task: .stsb, split: .dev, rows: 1500, classCounts: nil, meanScore: 2.364),
        RealFile(task: .stsb, split: .train, rows: 5749, classCounts: nil, meanScore: 2.701),
        RealFile(task: .qnli, split: .dev, rows: 5463, classCounts: [2702, 2761], meanScore: nil),
    ]

    @Test(arguments: realFiles)
    func realGLUEFileHasTheOfficialSizeAndLabelCounts(_ file: RealFile) throws {
        let dataset = try GLUEDataset.load(task: file.task, split: file.split, folder: TestPaths.glue)
        #expect(dataset.count == file.rows)
        #expect(dataset.examples.map(\.index) == Array(0..<file.rows))
        #expect(dataset.examples.allSatisfy { ($0.textB != nil) == file.task.isPair })
        if let counts = file.classCounts {
            let found = (0..<counts.count).map { label in dataset.examples.filter { $0.label == .classIndex(label) }.count }
            #expect(found == counts)
        }
        if let mean = file.meanScore {
            let scores = dataset.examples.map { $0.label!.score! }
            #expect(abs(scores.reduce(0, +) / Double(scores.count) - mean) < 0.0005)
            #expect(scores.allSatisfy { $0 >= 0 && $0 <= 5 })
        }
    }

    @Test func parsingTrapsOfTheRealFilesAreHandled() throws {
        // MRPC: a BOM before the header; the first example is on line 2.
        let mrpc = try GLUEDataset.load(task: .mrpc, split: .dev, folder: TestPaths.glue)
        #expect(mrpc.examples[0].line == 2)
        #expect(!mrpc.examples[0].textA.hasPrefix("\u{FEFF}"))
        // CoLA: no header (line 1 is an example) and no newline after the last line.
        let cola = try GLUEDataset.load(task: .cola, split: .dev, folder: TestPaths.glue)
        #expect(cola.examples[0].line == 1)
        #expect(cola.examples.last!.line == 1043)
        // RTE train row 2164 starts with an unbalanced double quote: text, not CSV quoting.
        let rte = try GLUEDataset.load(task: .rte, split: .train, folder: TestPaths.glue)
        let quoted = rte.examples.filter { $0.textA.hasPrefix("\"") }
        #expect(!quoted.isEmpty)
        #expect(rte.examples.allSatisfy { !$0.textA.contains("\t") && !($0.textB ?? "").contains("\t") })
        // STS-B: the texts are the sentence1/sentence2 columns, the label the score column.
        let stsb = try GLUEDataset.load(task: .stsb, split: .dev, folder: TestPaths.glue)
        #expect(stsb.examples[0].textA == "A man with a hard hat is dancing.")
        #expect(stsb.examples[0].textB == "A man wearing a hard hat is dancing.")
        #expect(stsb.examples[0].label == .score(5))
    }

    // MARK: - The project's GLUE-format files

    static let formatFolder = TestPaths.fixture("glue-format")

    struct FormatFile: Sendable, CustomStringConvertible {
        let task: GLUETask
        let split: GLUESplit
        let rows: Int
        var description: String { "\(task) \(split)" }
    }

    static let formatFiles = [
        FormatFile(task: .qqp, split: .train, rows: 3), FormatFile(task: .qqp, split: .dev, rows: 5),
        FormatFile(task: .qqp, split: .test, rows: 2),
        FormatFile(task: .mnli, split: .train, rows: 3), FormatFile(task: .mnli, split: .dev, rows: 20),
        FormatFile(task: .mnli, split: .devMismatched, rows: 5), FormatFile(task: .mnli, split: .test, rows: 2),
        FormatFile(task: .mnli, split: .testMismatched, rows: 2),
        FormatFile(task: .wnli, split: .train, rows: 2), FormatFile(task: .wnli, split: .dev, rows: 3),
        FormatFile(task: .wnli, split: .test, rows: 1),
        FormatFile(task: .qnli, split: .train, rows: 2), FormatFile(task: .qnli, split: .test, rows: 2),
        FormatFile(task: .cola, split: .test, rows: 2), FormatFile(task: .sst2, split: .test, rows: 2),
        FormatFile(task: .mrpc, split: .test, rows: 2), FormatFile(task: .rte, split: .test, rows: 1),
        FormatFile(task: .stsb, split: .dev, rows: 18), FormatFile(task: .stsb, split: .test, rows: 2),
    ]

    @Test(arguments: formatFiles)
    func everyTaskAndSplitReads(_ file: FormatFile) throws {
        let dataset = try GLUEDataset.load(task: file.task, split: file.split, folder: Self.formatFolder)
        #expect(dataset.count == file.rows)
        #expect(dataset.examples.allSatisfy { ($0.textB != nil) == file.task.isPair && !$0.textA.isEmpty })
        #expect(dataset.examples.allSatisfy { ($0.label == nil) == !file.split.hasLabels })
    }

    @Test func mnliReadsMatchedAndMismatchedSectionsWithTheGoldLabel() throws {
        let matched = try GLUEDataset.load(task: .mnli, split: .dev, folder: Self.formatFolder)
        #expect(matched.file.lastPathComponent == "dev_matched.tsv")
        #expect(matched.examples[0].textA == "The man is playing the guitar.")
        #expect(matched.examples[0].textB == "A man plays music.")
        #expect(matched.examples[0].label == .classIndex(1))   // entailment
        #expect(matched.examples[1].label == .classIndex(0))   // contradiction
        let mismatched = try GLUEDataset.load(task: .mnli, split: .devMismatched, folder: Self.formatFolder)
        #expect(mismatched.file.lastPathComponent == "dev_mismatched.tsv")
        let qqp = try GLUEDataset.load(task: .qqp, split: .dev, folder: Self.formatFolder)
        #expect(qqp.examples.map { $0.label!.classIndex! } == [1, 0, 0, 1, 1])
        #expect(qqp.examples[0].textA == "Where is the river?")
    }

    @Test func taskFolderItselfWorksAsTheDataFolder() throws {
        let dataset = try GLUEDataset.load(task: .mnli, split: .dev, folder: Self.formatFolder.appendingPathComponent("MNLI"))
        #expect(dataset.count == 20)
    }

    @Test func missingFileNamesTheExpectedPath() throws {
        let error = try #require(throws: BertologyError.self) {
            try GLUEDataset.load(task: .mnli, split: .dev, folder: TestPaths.glue)
        }
        #expect(error.kind == .io)
        #expect(error.file == TestPaths.glue.appendingPathComponent("MNLI/dev_matched.tsv").path)
        #expect(error.reason.contains("MNLI/dev_matched.tsv"))
        let folder = try #require(throws: BertologyError.self) {
            try GLUEDataset.load(task: .rte, split: .dev, folder: URL(fileURLWithPath: "/nonexistent/glue_data"))
        }
        #expect(folder.file == "/nonexistent/glue_data" && folder.reason.contains("RTE/dev.tsv"))
        let split = try #require(throws: BertologyError.self) {
            try GLUEDataset.load(task: .rte, split: .devMismatched, folder: TestPaths.glue)
        }
        #expect(split.kind == .usage)
    }

    @Test func taskAndSplitNamesParse() throws {
        #expect(try GLUETask(parsing: "sst2") == .sst2)
        #expect(try GLUETask(parsing: "STS-B") == .stsb)
        #expect(try GLUETask(parsing: "sts_b") == .stsb)
        #expect(try GLUETask(parsing: "cola") == .cola)
        #expect(throws: BertologyError.self) { try GLUETask(parsing: "squad") }
        #expect(try GLUESplit(parsing: "dev_matched") == .dev)
        #expect(try GLUESplit(parsing: "validation_mismatched") == .devMismatched)
        #expect(throws: BertologyError.self) { try GLUESplit(parsing: "valid") }
        #expect(GLUETask.allCases.count == 9)
        #expect(GLUETask.mnli.labels == ["contradiction", "entailment", "neutral"])
        #expect(GLUETask.rte.labels == ["entailment", "not_entailment"])
        #expect(GLUETask.stsb.labels == nil)
        #expect(GLUETask.allCases.map(\.headlineMetric) == [.mcc, .accuracy, .f1, .f1, .pearson, .accuracy, .accuracy, .accuracy, .accuracy])
    }

    // MARK: - Malformed files

    static func parseError(_ text: [UInt8], task: GLUETask, split: GLUESplit = .dev) throws -> BertologyError {
        try #require(throws: BertologyError.self) {
            try GLUEDataset.parse(Data(text), task: task, split: split, file: "bad/\(task.folderName)/dev.tsv")
        }
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static let rteHeader = "index\tsentence1\tsentence2\tlabel\n"

    @Test func wrongColumnCountNamesTheLine() throws {
        let error = try Self.parseError(Self.bytes(Self.rteHeader + "0\tA cat.\tA dog.\tentailment\n1\tA cat.\tentailment\n"), task: .rte)
        #expect(error.kind == .badInput && error.file == "bad/RTE/dev.tsv" && error.location == "line 3")
        #expect(error.reason.contains("3 fields, expected 4"))
        // A quote does not hide a TAB: no CSV quoting.
        let quoted = try Self.parseError(Self.bytes(Self.rteHeader + "0\t\"A cat\tsat.\"\tA dog.\tentailment\n"), task: .rte)
        #expect(quoted.location == "line 2" && quoted.reason.contains("5 fields"))
    }

    @Test func badLabelNamesTheLineAndTheLabels() throws {
        let error = try Self.parseError(Self.bytes(Self.rteHeader + "0\tA cat.\tA dog.\tentailed\n"), task: .rte)
        #expect(error.location == "line 2")
        #expect(error.reason == "label \"entailed\" is not one of entailment, not_entailment")
        let score = try Self.parseError(Self.bytes(
            "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
            + "0\tg\tf\t2012\t0\ts\ts\tA cat.\tA dog.\tfive\n"), task: .stsb)
        #expect(score.location == "line 2" && score.reason == "score \"five\" is not a number")
        // CoLA with a header row: the label "label" is on line 1, and the message says why.
        let cola = try Self.parseError(Self.bytes("source\tlabel\tjudgement\tsentence\ngj04\t1\t\tThe cat sat.\n"), task: .cola)
        #expect(cola.location == "line 1" && cola.reason.contains("no header row"))
    }

    @Test func nonUTF8BytesNameTheLine() throws {
        let error = try Self.parseError(Self.bytes(Self.rteHeader + "0\tA cat.\tA dog.\tentailment\n1\tA caf") + [0xE9]
                                        + Self.bytes(".\tA dog.\tentailment\n"), task: .rte)
        #expect(error.location == "line 3" && error.reason == "not valid UTF-8")
    }

    @Test func emptyFilesAndEmptyLinesAreErrors() throws {
        let empty = try Self.parseError([], task: .rte)
        #expect(empty.location == "line 1" && empty.reason.hasPrefix("empty file"))
        let colaEmpty = try Self.parseError([], task: .cola)
        #expect(colaEmpty.reason.hasPrefix("empty file"))
        let headerOnly = try Self.parseError(Self.bytes(Self.rteHeader), task: .rte)
        #expect(headerOnly.reason == "no examples after the header")
        let gap = try Self.parseError(Self.bytes(Self.rteHeader + "0\tA.\tB.\tentailment\n\n1\tA.\tB.\tentailment\n"), task: .rte)
        #expect(gap.location == "line 3" && gap.reason.hasPrefix("empty line"))
        let header = try Self.parseError(Self.bytes("index\tsentence1\tlabel\n0\tA.\tentailment\n"), task: .rte)
        #expect(header.location == "line 1" && header.reason.contains("no column \"sentence2\""))
    }

    @Test func crlfBomAndTrailingEmptyLinesReadLikePlainLF() throws {
        let plain = Self.rteHeader + "0\tA cat.\tA dog.\tentailment\n1\tA \"cat.\tA dog.\tnot_entailment"
        let expected = try GLUEDataset.parse(Data(plain.utf8), task: .rte, split: .dev, file: "f")
        #expect(expected.count == 2 && expected[1].textA == "A \"cat." && expected[1].label == .classIndex(1))
        let crlf = plain.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n"
        #expect(try GLUEDataset.parse(Data(crlf.utf8), task: .rte, split: .dev, file: "f") == expected)
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF] + Self.bytes(plain + "\n\n\n")
        #expect(try GLUEDataset.parse(Data(bom), task: .rte, split: .dev, file: "f") == expected)
        let cola = [0xEF, 0xBB, 0xBF] + Self.bytes("gj04\t1\t\tThe cat sat.\r\ngj04\t0\t*\tSat cat the.")
        let colaExamples = try GLUEDataset.parse(Data(cola), task: .cola, split: .train, file: "f")
        #expect(colaExamples.map(\.label) == [.classIndex(1), .classIndex(0)])
        #expect(colaExamples[1].textA == "Sat cat the.")
    }

    // MARK: - Seeded sampling

    /// Expected positions from an independent Python implementation of the documented algorithm
    /// (splitmix64, Fisher-Yates from the end, `next() % (i + 1)`, first N sorted).
    @Test func seededSampleFollowsTheDocumentedAlgorithm() throws {
        #expect(GLUEDataset.sampleIndices(count: 20, limit: 5, seed: 42) == [3, 8, 11, 16, 17])
        #expect(GLUEDataset.sampleIndices(count: 1500, limit: 10, seed: 42) == [128, 193, 276, 610, 615, 956, 987, 1133, 1301, 1348])
        #expect(GLUEDataset.sampleIndices(count: 1500, limit: 10, seed: 7) == [211, 390, 477, 544, 873, 986, 989, 1139, 1246, 1258])
        #expect(GLUEDataset.sampleIndices(count: 872, limit: 8, seed: 0) == [20, 181, 359, 481, 545, 574, 637, 812])
        #expect(GLUEDataset.sampleIndices(count: 5, limit: 9, seed: 1) == [0, 1, 2, 3, 4])

        let stsb = try GLUEDataset.load(task: .stsb, split: .dev, folder: TestPaths.glue)
        let sample = stsb.sampled(limit: 10, seed: 42)
        #expect(sample.examples.map(\.index) == [128, 193, 276, 610, 615, 956, 987, 1133, 1301, 1348])
        #expect(sample.sampling == GLUESampling(limit: 10, seed: 42, population: 1500))
        #expect(stsb.sampled(limit: 1000, seed: 42).examples.map(\.index) == stsb.sampled(limit: 1000, seed: 42).examples.map(\.index))
    }
}
