import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// Resume and shards: an interrupted sweep continued with `resume`, and a sweep split into parts and
/// merged, write byte for byte the files of one uninterrupted run (every file except run.json, which
/// holds paths and times, and the journal, which holds wall times).
@Suite struct AblationResumeShardTests {
    static let glueFormat = TestPaths.fixture("glue-format")

    static func sweep(mode: HeadIntervention = .uniform, shard: AblationShard = .whole, limit: Int? = nil,
                      heads: String = "all", precision: Precision = .fp32) throws -> AblationSweep {
        let checkpoint = try Checkpoint.load(TestPaths.fixture("models/tiny-regression"), precision: precision)
        var dataset = try GLUEDataset.load(task: .stsb, split: .dev, folder: glueFormat)
        if let limit { dataset = dataset.sampled(limit: limit, seed: 42) }
        // Small batches, so a sweep has several and cancellation lands between them.
        let options = AblationSweepOptions(mode: mode, heads: try .init(parsing: heads, layerCount: checkpoint.model.layerCount,
                                                                        headCount: checkpoint.model.headCount),
                                           layers: .all, shard: shard,
                                           evaluation: EvaluationOptions(batcher: Batcher(tokenBudget: 100, maxBatchSize: 4)))
        return try AblationSweep(checkpoint: checkpoint, dataset: dataset, options: options)
    }

    static func scratch(_ label: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("bertology-\(label)-\(UUID().uuidString)")
    }

    /// The report files of a folder by name (run.json and the journal left out).
    static func reportFiles(_ folder: URL) throws -> [String: Data] {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0 != "run.json" && $0 != AblationJournal.fileName }
        return try Dictionary(uniqueKeysWithValues: names.map { ($0, try Data(contentsOf: folder.appendingPathComponent($0))) })
    }

    /// One uninterrupted run with its report, in a new folder.
    static func singleRun(_ sweep: AblationSweep) throws -> URL {
        let folder = scratch("ablation-single")
        let results = try sweep.run(in: folder, resume: false)
        try AblationReport.write(results, to: OutputFolder(folder, force: true))
        return folder
    }

    static func expectSameReports(_ a: URL, _ b: URL) throws {
        let (left, right) = (try reportFiles(a), try reportFiles(b))
        #expect(left.keys.sorted() == right.keys.sorted())
        #expect(left.keys.contains("ablation.json") && left.keys.contains("ablations.csv") && left.keys.contains("index.html"))
        for (name, data) in left {
            #expect(right[name] == data, "\(name) differs")
        }
    }

    // MARK: - Resume

    /// Cancelled after the first layer's ablations are in the journal (as SIGINT does through
    /// runCancellable), with a torn half line appended as a kill during a write leaves it; resumed,
    /// it runs only the rest and writes the uninterrupted run's files byte for byte.
    @Test func interruptedAndResumedSweepWritesTheUninterruptedBytes() async throws {
        let sweep = try Self.sweep()
        let single = try Self.singleRun(sweep)
        defer { try? FileManager.default.removeItem(at: single) }

        let folder = Self.scratch("ablation-resume")
        defer { try? FileManager.default.removeItem(at: folder) }
        let firstPart = Task.detached { () throws -> AblationResults in
            try sweep.run(in: folder, resume: false, recorded: { outcome in
                // Stop once layer 1's group (its heads, then the whole layer) is recorded: the next
                // batch sees the cancellation.
                if outcome.ablation == .layer(0) { withUnsafeCurrentTask { $0?.cancel() } }
            })
        }
        let error = await #expect(throws: BertologyError.self) { try await firstPart.value }
        #expect(error?.kind == .cancelled)
        let journalURL = folder.appendingPathComponent(AblationJournal.fileName)
        let interrupted = try AblationJournal.read(journalURL)
        #expect(interrupted.records.map(\.ablation) == (1...5).map { "L1-H\($0)" } + ["L1"])
        #expect(interrupted.header.ablations.count == sweep.ablations.count)

        // A torn last line (a kill in the middle of an append) is dropped, not an error.
        let handle = try FileHandle(forWritingTo: journalURL)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"ablation\": \"L2-H1\", \"metr".utf8))
        try handle.close()
        #expect(try AblationJournal.read(journalURL).tornBytes > 0)

        // Without --resume (or --force) the folder is refused.
        let refused = #expect(throws: BertologyError.self) { try sweep.run(in: folder, resume: false) }
        #expect(refused?.reason.contains("`resume`") == true)

        var ranAgain: [Ablation] = []
        let results = try sweep.run(in: folder, resume: true, recorded: { ranAgain.append($0.ablation) })
        #expect(results.isComplete)
        #expect(ranAgain.count == sweep.ablations.count - 6, "finished ablations are not run again")
        #expect(!ranAgain.contains(.head(HeadID(layer: 0, head: 0))))
        #expect(try AblationJournal.read(journalURL).tornBytes == 0)
        try AblationReport.write(results, to: OutputFolder(folder, force: true))
        try Self.expectSameReports(single, folder)

        // Resuming a finished sweep runs nothing.
        var none = 0
        _ = try sweep.run(in: folder, resume: true, recorded: { _ in none += 1 })
        #expect(none == 0)
    }

    /// The fingerprint ties a journal to its model, data and options: each difference is named.
    @Test func resumeRefusesAnotherModeDataOrPart() throws {
        let folder = Self.scratch("ablation-refuse")
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try Self.sweep(heads: "L1").run(in: folder, resume: false)
        for (other, expected) in [(try Self.sweep(mode: .zero, heads: "L1"), "mode: zero, not uniform"),
                                  (try Self.sweep(limit: 5, heads: "L1"), "data.examples: 5, not 18"),
                                  (try Self.sweep(heads: "L2"), "heads: L2-H1"),
                                  (try Self.sweep(shard: AblationShard(index: 1, count: 2), heads: "L1"), "shard: 1/2, not 1/1")] {
            let error = #expect(throws: BertologyError.self) { try other.run(in: folder, resume: true) }
            #expect(error?.reason.contains(expected) == true, "\(error?.reason ?? "")")
            #expect(error?.exitStatus == 2)
        }
    }

    // MARK: - Shards

    @Test func shardParsingAndRoundRobinSplit() throws {
        #expect(try AblationShard(parsing: "2/3") == AblationShard(index: 2, count: 3))
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", "-1/2"] {
            #expect(throws: BertologyError.self) { try AblationShard(parsing: bad) }
        }
        let plan = try Self.sweep().plan
        let parts = try (1...3).map { plan.ablations(in: try AblationShard(index: $0, count: 3)) }
        // Every part runs the baseline; the others are split with nothing lost or repeated.
        #expect(parts.allSatisfy { $0.first == .baseline })
        let others = parts.flatMap { $0.dropFirst() }
        #expect(others.count == plan.ablations.count - 1 && Set(others) == Set(plan.ablations.dropFirst()))
        #expect(parts.map { $0.count - 1 } == [6, 6, 6])
    }

    /// Three parts run separately and merged give the single run's files, byte for byte; merge
    /// refuses a missing part, an unfinished part, a part given twice and a part of another sweep.
    @Test func threeShardsMergedWriteTheSingleRunBytes() throws {
        let single = try Self.singleRun(try Self.sweep())
        defer { try? FileManager.default.removeItem(at: single) }
        var journals: [URL] = []
        var folders: [URL] = []
        defer { for folder in folders { try? FileManager.default.removeItem(at: folder) } }
        for index in 1...3 {
            let folder = Self.scratch("ablation-part\(index)")
            folders.append(folder)
            _ = try Self.sweep(shard: try AblationShard(index: index, count: 3)).run(in: folder, resume: false)
            journals.append(folder.appendingPathComponent(AblationJournal.fileName))
        }
        let merged = Self.scratch("ablation-merged")
        folders.append(merged)
        // Parts in any order.
        let results = try AblationResults.merge(journals: journals.reversed())
        try AblationReport.write(results, to: OutputFolder(merged, force: false))
        try Self.expectSameReports(single, merged)

        let missing = #expect(throws: BertologyError.self) { try AblationResults.merge(journals: Array(journals.prefix(2))) }
        #expect(missing?.reason.contains("3/3") == true)
        let twice = #expect(throws: BertologyError.self) { try AblationResults.merge(journals: journals + [journals[0]]) }
        #expect(twice?.reason.contains("twice") == true)

        let other = Self.scratch("ablation-other")
        folders.append(other)
        _ = try Self.sweep(mode: .zero, shard: try AblationShard(index: 3, count: 3)).run(in: other, resume: false)
        let foreign = #expect(throws: BertologyError.self) {
            try AblationResults.merge(journals: Array(journals.prefix(2)) + [other.appendingPathComponent(AblationJournal.fileName)])
        }
        #expect(foreign?.reason.contains("mode") == true)

        // An unfinished part: its journal without its last record.
        let unfinished = Self.scratch("ablation-unfinished")
        folders.append(unfinished)
        try FileManager.default.createDirectory(at: unfinished, withIntermediateDirectories: true)
        let lines = try String(contentsOf: journals[2], encoding: .utf8).split(separator: "\n")
        try (lines.dropLast().joined(separator: "\n") + "\n")
            .write(to: unfinished.appendingPathComponent(AblationJournal.fileName), atomically: true, encoding: .utf8)
        let partial = #expect(throws: BertologyError.self) {
            try AblationResults.merge(journals: Array(journals.prefix(2)) + [unfinished.appendingPathComponent(AblationJournal.fileName)])
        }
        #expect(partial?.reason.contains("unfinished") == true)
    }

    // MARK: - Fingerprint

    /// The digests the fingerprint holds: FIPS 180-4 test vectors (empty, one block, the 56-byte
    /// message whose padding needs a second block, a million bytes), and the SHA-256 Python's hashlib
    /// gave the fixture file (recorded by ablation_reference.py).
    @Test func fingerprintDigestsAreSHA256() throws {
        #expect(SHA256.hex(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex(Data(repeating: UInt8(ascii: "a"), count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        struct Recorded: Decodable { let data_sha256: String }
        let recorded = try JSONDecoder().decode(Recorded.self, from: Data(contentsOf: TestPaths.fixture("reference/ablation/tiny-regression.STS-B-dev.json")))
        #expect(try SHA256.hex(file: Self.glueFormat.appendingPathComponent("STS-B/dev.tsv")) == recorded.data_sha256)
        #expect(try Self.sweep().fingerprint.data.sha256 == recorded.data_sha256)
    }
}
