import Foundation
import Testing
@testable import Bertology

/// `bertology ablate` and `bertology merge` as a user runs them: three parts and a merge write the
/// single run's files byte for byte; bad usage exits 2.
@Suite struct AblationCommandTests {
    static let model = TestPaths.fixture("models/tiny-classifier").path
    static let data = TestPaths.fixture("glue-format").path

    static func ablate(_ extra: [String]) throws -> CommandLineTool.Result {
        try CommandLineTool.run(["ablate", "--model", model, "--task", "MNLI", "--data", data, "--mode", "zero"] + extra, timeout: 60)
    }

    @Test func shardedRunsMergedEqualOneRunThroughTheCommandLine() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-ablate-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let single = root.appendingPathComponent("single")
        let run = try Self.ablate(["--out", single.path])
        #expect(run.status == 0, "\(run.stderrText)")
        #expect(run.stdoutText.contains("baseline: accuracy"))
        for index in 1...3 {
            let part = try Self.ablate(["--shard", "\(index)/3", "--out", root.appendingPathComponent("part\(index)").path])
            #expect(part.status == 0, "\(part.stderrText)")
            #expect(part.stderrText.contains("part \(index)/3 done"))
        }
        let merged = root.appendingPathComponent("merged")
        let merge = try CommandLineTool.run(["merge"] + (1...3).map { root.appendingPathComponent("part\($0)").path } + ["--out", merged.path])
        #expect(merge.status == 0, "\(merge.stderrText)")
        #expect(merge.stdoutText == run.stdoutText, "merge prints the single run's summary")
        try AblationResumeShardTests.expectSameReports(single, merged)

        // Usage errors exit 2: an existing journal without --resume, a bad shard, both --resume and --force,
        // a missing part.
        let again = try Self.ablate(["--out", single.path])
        #expect(again.status == 2 && again.stderrText.contains("--resume"))
        #expect(try Self.ablate(["--shard", "0/3", "--out", root.appendingPathComponent("x").path]).status == 2)
        #expect(try Self.ablate(["--resume", "--force", "--out", single.path]).status == 2)
        let incomplete = try CommandLineTool.run(["merge", root.appendingPathComponent("part1").path, "--out", root.appendingPathComponent("y").path])
        #expect(incomplete.status == 2 && incomplete.stderrText.contains("missing"))
        // Resuming the finished run rewrites the same files.
        let resumed = try Self.ablate(["--resume", "--out", single.path])
        #expect(resumed.status == 0 && resumed.stdoutText == run.stdoutText)
    }
}
