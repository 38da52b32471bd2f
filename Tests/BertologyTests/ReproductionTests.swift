import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// `Reproduction` (`bertology reproduce`) on the tiny fixture classifier and --limit samples of the real
/// GLUE files: the plan, every stage's folder and stage.json, the report; resume after a cancellation at
/// a stage boundary and in the middle of a fine-tuning and of a sweep ends with the same bytes as an
/// uninterrupted run; a changed input redoes exactly the stages that read it; another run's folder is refused.
@Suite(.serialized) struct ReproductionTests {
    static let model = TestPaths.fixture("models/tiny-classifier")
    static let glue = TestPaths.glue

    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-reproduce-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A quick run: 16 train and dev examples, 2 epochs of 2 steps, 12 analysed examples, 40 tokens.
    static func options(tasks: [GLUETask]? = [.mrpc]) -> ReproductionOptions {
        var options = ReproductionOptions(model: model, dataFolder: glue)
        options.tasks = tasks
        options.limit = 16
        options.epochs = 2
        options.batchSize = 8
        options.maxLength = 40
        options.analysisExamples = 12
        options.viewerExamples = 2
        return options
    }

    /// Every file under `folder` (relative path -> bytes) but the wall-time files and the sweep's
    /// journal (which records each ablation's seconds).
    static func snapshot(_ folder: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        let enumerator = try #require(FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey]))
        let skipped: Set<String> = ["timing.json", "stage-timing.json", "ablation-journal.jsonl"]
        for case let url as URL in enumerator {
            guard try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true,
                  !skipped.contains(url.lastPathComponent) else { continue }
            let relative = String(url.standardizedFileURL.path.dropFirst(folder.standardizedFileURL.path.count + 1))
            files[relative] = try Data(contentsOf: url)
        }
        return files
    }

    /// Runs `body` in a detached task and returns its error (nil when it finished).
    static func outcome(_ body: @escaping @Sendable () throws -> Void) async -> BertologyError? {
        let result = await Task.detached { try body() }.result
        if case .failure(let error) = result { return error as? BertologyError }
        return nil
    }

    /// Log lines collected from the run's thread.
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    }

    // MARK: - Plan

    @Test func planHasEveryStageOfThePaperAndListsTheTasksItCannotRun() throws {
        let run = try Reproduction(options: Self.options(tasks: nil))
        let plan = run.plan
        #expect(plan.tasks == [.mrpc, .stsb, .sst2, .rte], "the paper's tasks with a train and a dev split, in its order")
        #expect(plan.devOnly == [.qnli], "QNLI has a dev split only")
        #expect(plan.missing.map(\.task) == [.qqp, .mnli])
        #expect(plan.missing[0].reason.contains("QQP/dev.tsv") && plan.missing[0].reason.contains("add QQP/train.tsv and dev.tsv"))
        #expect(plan.stages.filter { $0.task == .mrpc && $0.kind != .viewer }.map(\.id) == [
            "MRPC/finetune-pretrained-s42", "MRPC/finetune-random-s42", "MRPC/untrained", "MRPC/analyze-pretrained",
            "MRPC/analyze-finetuned", "MRPC/compare", "MRPC/ablate",
        ])
        #expect(plan.stages.filter { $0.task == .qnli }.map(\.id) == ["QNLI/analyze-pretrained"])
        #expect(plan.stage("MRPC/ablate")?.dependencies == ["MRPC/finetune-pretrained-s42"])
        #expect(plan.stage("viewer")?.dependencies == ["MRPC/finetune-pretrained-s42", "MRPC/ablate"])
        // Every dependency comes before the stage that reads it.
        for (index, stage) in plan.stages.enumerated() {
            for dependency in stage.dependencies {
                #expect(plan.stages.prefix(index).contains { $0.id == dependency }, "\(stage.id) runs before \(dependency)")
            }
        }
        #expect(plan.estimatedSeconds > 0 && plan.text.contains("estimate:") && plan.text.contains("measured with all-MiniLM-L6-v2"))
    }

    @Test func aTaskAskedForAndAbsentIsRefusedNamingItsFile() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        var options = Self.options(tasks: [.qqp])
        #expect {
            try Reproduction(options: options)
        } throws: { error in
            let error = error as? BertologyError
            return error?.kind == .io && error?.description.contains("QQP/dev.tsv") == true
        }
        options.tasks = [.mrpc]
        options.dataFolder = root.appendingPathComponent("no-such-glue")
        #expect(throws: BertologyError.self) { try Reproduction(options: options) }
    }

    // MARK: - Running, resuming

    @Test func runsEveryStageAndWritesOneReportBesideThePaper() async throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("run")
        var options = Self.options(tasks: [.mrpc, .qnli])
        options.relations = TestPaths.repositoryRoot.appendingPathComponent("docs/examples/relations.jsonl")
        let run = try Reproduction(options: options)
        let result = try run.run(writingTo: out)
        #expect(result.ran == run.plan.stages.map(\.id) && result.skipped.isEmpty)
        for stage in run.plan.stages {
            let record = try JSONDecoder().decode(ReproductionStageRecord.self,
                from: Data(contentsOf: out.appendingPathComponent(stage.id).appendingPathComponent("stage.json")))
            #expect(record.stage == stage.id && !record.outputs.isEmpty && record.inputs["model.model.safetensors"] != nil)
        }
        for name in ["index.html", "reproduce.json", "timing.json", "plan.json", "MRPC/finetune-pretrained-s42/model.safetensors",
                     "MRPC/compare/cosine.json", "MRPC/ablate/ablation.json", "QNLI/analyze-pretrained/patterns.json", "viewer/viewer.json"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "\(name)")
        }
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("QNLI/finetune-pretrained-s42").path))
        let report = try #require(result.report)
        let mrpc = try #require(report.tasks.first { $0.task == "MRPC" })
        #expect(mrpc.fineTuned && mrpc.cosine?.count == 2 && mrpc.cosine?.first?.count == 3)
        #expect(mrpc.untrained?.map(\.seed) == [42, 43, 44, 45, 46])
        #expect(mrpc.ablation?.heads.count == 2 && mrpc.ablation?.layers.count == 2 && mrpc.ablation?.metric == "f1")
        let qnli = try #require(report.tasks.first { $0.task == "QNLI" })
        #expect(!qnli.fineTuned && qnli.patternsPretrained != nil && qnli.ablation == nil)
        #expect(mrpc.relationHeads?.count == 5 && report.claims.contains { $0.section == "§4.2" && $0.task == "MRPC" })
        // Every claim is one filled line.
        for claim in report.claims { #expect(["yes", "no", "n/a"].contains(claim.holds) && !claim.ours.isEmpty) }
        #expect(report.claims.contains { $0.claim == "disabling some single heads improves the score" && $0.task == "MRPC" })
        // reproduce.json is the report's content; index.html stands alone (no network, no wall times).
        let decoded = try JSONDecoder().decode(ReproductionReport.self, from: Data(contentsOf: out.appendingPathComponent("reproduce.json")))
        #expect(decoded == report)
        let page = String(decoding: try Data(contentsOf: out.appendingPathComponent("index.html")), as: UTF8.self)
        #expect(page.contains("87.9 / 82.3") && page.contains("Table 1") && page.contains("<svg"))
        #expect(page.contains("href=\"MRPC/ablate/ablation.json\"") && page.contains("id=\"attention-viewer\""))
        #expect(!page.contains("http://") && !page.contains("https://") && !page.contains("<link") && !page.contains(" src="))
        #expect(page.contains("QNLI has a dev split but no train split"))
    }

    @Test func resumedAfterCancellationsWritesTheSameBytesAsAnUninterruptedRun() async throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("run")
        let run = try Reproduction(options: Self.options())
        _ = try run.run(writingTo: out)
        let uninterrupted = try Self.snapshot(out)
        #expect(uninterrupted.count > 100 && uninterrupted["index.html"] != nil && uninterrupted["MRPC/finetune-pretrained-s42/model.safetensors"] != nil)
        // The same folder path (analyses name the fine-tuned model by its path): move the first run aside.
        try FileManager.default.moveItem(at: out, to: root.appendingPathComponent("uninterrupted"))

        // 1. Cancelled at a stage boundary, right after the untrained stage.
        let atBoundary = await Self.outcome {
            _ = try run.run(writingTo: out, log: { line in
                if line.hasPrefix("MRPC/untrained: done") { withUnsafeCurrentTask { $0?.cancel() } }
            })
        }
        #expect(atBoundary?.kind == .cancelled)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("MRPC/untrained/stage.json").path))
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("MRPC/analyze-pretrained").path))

        // 2. Resumed, and cancelled in the middle of the sweep.
        let inSweep = await Self.outcome {
            _ = try run.run(writingTo: out, resume: true, progress: { progress in
                if progress.phase.hasPrefix("MRPC/ablate") && progress.completed >= 5 { withUnsafeCurrentTask { $0?.cancel() } }
            })
        }
        #expect(inSweep?.kind == .cancelled)
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("MRPC/ablate/stage.json").path))
        let journal = try AblationJournal.read(out.appendingPathComponent("MRPC/ablate/ablation-journal.jsonl"))
        #expect(!journal.records.isEmpty && journal.records.count < journal.header.ablations.count, "part of the sweep is kept")

        // 3. Resumed, finished; the report as the uninterrupted run's.
        let lines = Lines()
        let result = try run.run(writingTo: out, resume: true, log: { lines.append($0) })
        #expect(result.skipped.contains("MRPC/finetune-pretrained-s42") && result.ran.first == "MRPC/ablate")
        #expect(lines.all.contains("MRPC/ablate: continued (interrupted before)"))
        #expect(try Self.snapshot(out) == uninterrupted)

        // 4. Fine-tuning cancelled after its first step, then resumed with everything else redone.
        try FileManager.default.removeItem(at: out)
        let inFineTuning = await Self.outcome {
            _ = try run.run(writingTo: out, progress: { progress in
                if progress.phase.hasPrefix("MRPC/finetune-pretrained-s42") && progress.phase.hasSuffix("train") && progress.completed >= 1 {
                    withUnsafeCurrentTask { $0?.cancel() }
                }
            })
        }
        #expect(inFineTuning?.kind == .cancelled)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("MRPC/finetune-pretrained-s42/checkpoint").path))
        _ = try run.run(writingTo: out, resume: true)
        #expect(try Self.snapshot(out) == uninterrupted)
    }

    @Test func aChangedInputRedoesTheStagesThatReadItAndSaysWhy() async throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("run")
        _ = try Reproduction(options: Self.options()).run(writingTo: out)
        var options = Self.options()
        options.analysisExamples = 10
        let changed = try Reproduction(options: options)
        // Without resume: refused, naming the difference, nothing written.
        let plan = try Data(contentsOf: out.appendingPathComponent("plan.json"))
        #expect {
            try changed.run(writingTo: out)
        } throws: { error in
            (error as? BertologyError)?.reason.contains("analysis_examples: 10, not 12") == true
        }
        #expect(try Data(contentsOf: out.appendingPathComponent("plan.json")) == plan)
        let result = try changed.run(writingTo: out, resume: true)
        #expect(result.ran == ["MRPC/analyze-pretrained", "MRPC/analyze-finetuned", "MRPC/compare"])
        #expect(result.redone.allSatisfy { $0.why == "option.analysis_examples: 10, not 12" } && result.redone.count == 3)
        #expect(result.skipped == ["MRPC/finetune-pretrained-s42", "MRPC/finetune-random-s42", "MRPC/untrained", "MRPC/ablate", "viewer"])
        // The same run again: refused without resume, skipped whole with it.
        #expect(throws: BertologyError.self) { try changed.run(writingTo: out) }
        #expect(try changed.run(writingTo: out, resume: true).ran.isEmpty)
    }

    /// `keep`: `models` (the default) drops each fine-tuning's checkpoint/ and the untrained classifier's model
    /// once its stage is done, `none` the
    /// fine-tuned models too once every stage that reads them is done, `checkpoints` nothing; every other file is
    /// the same; the report names what went; a resume needs none of it, and a stage redone because an input
    /// changed gets its dropped model trained again (the same bytes).
    @Test func keepDropsCheckpointsAndModelsOnlyOnceNoStageNeedsThem() async throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let fineTunings = ["MRPC/finetune-pretrained-s42", "MRPC/finetune-random-s42"]
        var snapshots: [ReproductionOptions.Keep: [String: Data]] = [:]
        for keep in ReproductionOptions.Keep.allCases {
            let out = root.appendingPathComponent("run")
            var options = Self.options()
            options.keep = keep
            let lines = Lines()
            let result = try Reproduction(options: options).run(writingTo: out, log: { lines.append($0) })
            let report = try #require(result.report)
            for stage in fineTunings {
                let checkpoint = out.appendingPathComponent(stage).appendingPathComponent("checkpoint")
                #expect(FileManager.default.fileExists(atPath: checkpoint.path) == (keep == .checkpoints), "\(keep) \(stage)")
                let model = out.appendingPathComponent(stage).appendingPathComponent("model.safetensors")
                #expect(FileManager.default.fileExists(atPath: model.path) == (keep != .none), "\(keep) \(stage)")
            }
            switch keep {
            case .checkpoints: #expect(report.dropped.isEmpty)
            case .models: #expect(report.dropped == fineTunings.map { "\($0)/checkpoint/" } + ["MRPC/untrained/model.safetensors"])
            case .none:
                #expect(report.dropped == ["MRPC/finetune-pretrained-s42/checkpoint/", "MRPC/finetune-pretrained-s42/model.safetensors",
                                           "MRPC/finetune-random-s42/checkpoint/", "MRPC/finetune-random-s42/model.safetensors",
                                           "MRPC/untrained/model.safetensors"])
                // The analysed model went only after the viewer, the last stage that reads it.
                let dropped = try #require(lines.all.firstIndex { $0.hasPrefix("MRPC/finetune-pretrained-s42: dropped") && $0.contains("model.safetensors") })
                let viewer = try #require(lines.all.firstIndex { $0.hasPrefix("viewer: done") })
                #expect(dropped > viewer)
            }
            #expect(report.run["keep"] == keep.rawValue)
            let page = String(decoding: try Data(contentsOf: out.appendingPathComponent("index.html")), as: UTF8.self)
            #expect(report.dropped.allSatisfy { page.contains($0) })
            let untrained = out.appendingPathComponent("MRPC/untrained/model.safetensors")
            #expect(FileManager.default.fileExists(atPath: untrained.path) == (keep == .checkpoints))
            snapshots[keep] = try Self.snapshot(out)
            // A resume needs nothing that was dropped: every stage skipped, nothing trained again.
            let resumed = try Reproduction(options: options).run(writingTo: out, resume: true)
            #expect(resumed.ran.isEmpty && resumed.skipped.count == 8)
            #expect(try Self.snapshot(out) == snapshots[keep])
            if keep == .none {
                // A changed input redoes the stages that read the dropped model: it is trained again, then dropped again.
                options.analysisExamples = 10
                let lines = Lines()
                let changed = try Reproduction(options: options).run(writingTo: out, resume: true, log: { lines.append($0) })
                #expect(changed.ran == ["MRPC/analyze-pretrained", "MRPC/analyze-finetuned", "MRPC/compare"])
                #expect(lines.all.filter { $0.hasPrefix("MRPC/finetune-pretrained-s42: trained again") }.count == 1)
                #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("MRPC/finetune-pretrained-s42/model.safetensors").path))
                #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("MRPC/finetune-pretrained-s42/checkpoint").path))
            }
            try FileManager.default.moveItem(at: out, to: root.appendingPathComponent(keep.rawValue))
        }
        // Apart from what was dropped and the files that record `keep`, the three folders are the same bytes.
        let recording: Set<String> = ["plan.json", "reproduce.json", "index.html"]
        func kept(_ keep: ReproductionOptions.Keep) throws -> [String: Data] {
            try #require(snapshots[keep]).filter { path, _ in
                !recording.contains(path) && !path.hasSuffix("model.safetensors") && !path.contains("/checkpoint/")
            }
        }
        #expect(try kept(.checkpoints) == kept(.models) && kept(.models) == kept(.none))
        #expect(try kept(.none).count > 100)
    }

    /// The report reads its stages' results as the types that wrote them (`JSONOutput.read`): a grid round-trips
    /// with its non-finite cells, and a stage file that is not what its writer wrote is refused in one line
    /// naming the file and the key.
    @Test func theReportReadsTheStagesResultsAsTheirTypesAndNamesABrokenOne() async throws {
        let grid = HeadGrid(layerCount: 2, headCount: 3, values: [0.5, .nan, 1, -.infinity, 0, 0.25])
        let decoded = try JSONOutput.decode(HeadGrid.self, from: JSONOutput.encode(grid))
        #expect(decoded.layerCount == 2 && decoded.headCount == 3 && decoded[0, 1].isNaN && decoded[1, 0] == -.infinity && decoded[1, 2] == 0.25)
        #expect(throws: DecodingError.self) { try JSONOutput.decode(HeadGrid.self, from: Data("[[1, 2], [3]]".utf8)) }

        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("run")
        let run = try Reproduction(options: Self.options())
        let report = try #require(try run.run(writingTo: out).report)
        #expect(ReproductionStage.id(.finetunePretrained, .mrpc, seed: 42) == "MRPC/finetune-pretrained-s42")
        #expect(ReproductionStage.id(.viewer, .mrpc) == "viewer" && ReproductionStage.id(.ablate, .stsb) == "STS-B/ablate")
        #expect(run.plan.stages.allSatisfy { $0.id == ReproductionStage.id($0.kind, $0.task, seed: $0.kind == .finetunePretrained || $0.kind == .finetuneRandom ? $0.seed : nil) })
        // The report again from the same files: the same numbers.
        #expect(try run.run(writingTo: out, resume: true).report == report)

        let patterns = out.appendingPathComponent("MRPC/analyze-pretrained/patterns.json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: patterns)) as? NSDictionary).mutableCopy() as! NSMutableDictionary
        object.removeObject(forKey: "distribution")
        try JSONSerialization.data(withJSONObject: object).write(to: patterns)
        #expect {
            try run.run(writingTo: out, stage: Reproduction.reportStage)
        } throws: { error in
            guard let error = error as? BertologyError else { return false }
            return error.kind == .badInput && error.description.contains("patterns.json") && error.description.contains("no \"distribution\"")
                && !error.description.contains("\n")
        }
    }

    @Test func aFolderOfSomethingElseOrAStageWithoutItsRunIsRefused() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        try Data("x".utf8).write(to: root.appendingPathComponent("notes.txt"))
        let run = try Reproduction(options: Self.options())
        #expect {
            try run.run(writingTo: root, resume: true)
        } throws: { error in
            (error as? BertologyError)?.reason.contains("holds no reproduce run") == true
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path) == ["notes.txt"])
        #expect(throws: BertologyError.self) { try run.run(writingTo: root, stage: "MRPC/ablate") }
        #expect(throws: BertologyError.self) { try run.run(writingTo: root, stage: "MRPC/nothing") }
    }
}
