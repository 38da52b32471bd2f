import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import BertologyEngine
@testable import BertologyExperiments

/// `bertology finetune` as a user runs it, on the tiny fixture models and a --limit sample of the real
/// GLUE files: the Hugging Face folder it writes loads in `bertology eval`; killed (SIGKILL) or
/// interrupted (SIGINT) and resumed, it ends with the same bytes as an uninterrupted run; bad input
/// exits 1 or 2 with one line and writes nothing.
@Suite(.serialized) struct FineTuningCommandTests {
    static let model = TestPaths.fixture("models/tiny-classifier").path
    static let glue = TestPaths.glue.path

    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-finetune-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func finetune(_ arguments: [String], model: String = model) throws -> CommandLineTool.Result {
        try CommandLineTool.run(["finetune", "--model", model] + arguments, environment: ["OMP_NUM_THREADS": "2"], timeout: 120)
    }

    static func json(_ url: URL) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    // MARK: - Output

    @Test func writesAHuggingFaceCheckpointThatEvalScoresTheSame() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("mrpc")
        let run = try Self.finetune(["--task", "MRPC", "--data", Self.glue, "--limit", "40", "--epochs", "2",
                                     "--batch-size", "8", "--max-length", "40", "--out", out.path, "--json"])
        #expect(run.status == 0, "\(run.stderrText)")
        let names = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
        #expect(names == ["checkpoint", "config.json", "model.safetensors", "timing.json", "tokenizer_config.json",
                          "train.csv", "train.json", "vocab.txt"])
        let config = try Self.json(out.appendingPathComponent("config.json"))
        #expect(config["architectures"] as? [String] == ["BertForSequenceClassification"])
        #expect(config["id2label"] as? [String: String] == ["0": "not_equivalent", "1": "equivalent"])
        #expect(config["label2id"] as? [String: Int] == ["not_equivalent": 0, "equivalent": 1])
        #expect(config["problem_type"] as? String == "single_label_classification")
        #expect(config["num_labels"] == nil)
        #expect(config["hidden_size"] as? Int == 36, "the base config's fields are kept")
        #expect(try Data(contentsOf: out.appendingPathComponent("vocab.txt"))
                == Data(contentsOf: URL(fileURLWithPath: Self.model).appendingPathComponent("vocab.txt")))

        // train.json: two epochs with the dev metrics, the recipe; train.csv: one row per step (5 per epoch).
        let report = try JSONDecoder().decode(FineTuningReport.self, from: Data(contentsOf: out.appendingPathComponent("train.json")))
        #expect(report.epochs.map(\.epoch) == [1, 2] && report.steps == 10)
        #expect(report.recipe.stepsPerEpoch == 5 && report.recipe.warmupSteps == 1 && report.recipe.maxLength == 40)
        #expect(report.recipe.trainExamples == 40 && report.recipe.devExamples == 408)
        let rows = String(decoding: try Data(contentsOf: out.appendingPathComponent("train.csv")), as: UTF8.self)
            .split(separator: "\n")
        #expect(rows.first == Substring(FineTuningStep.csvHeader) && rows.count == 11)
        #expect(FineTuningStep(csvRow: rows[1])?.learningRate == 0, "the first update runs at learning rate 0")
        #expect(run.stdoutText.hasPrefix("{") && run.stdoutText.contains("\"headline_metric\":\"f1\""))

        // The folder loads as a checkpoint and `bertology eval` scores the saved model as the run did.
        let loaded = try Checkpoint.load(out)
        #expect(loaded.model.hasClassifier && loaded.model.config.numLabels == 2)
        let eval = try CommandLineTool.run(["eval", "--model", out.path, "--task", "MRPC", "--data", Self.glue, "--json"])
        #expect(eval.status == 0, "\(eval.stderrText)")
        let scored = try #require(try JSONSerialization.jsonObject(with: eval.stdout) as? [String: Any])
        let metrics = try #require(scored["metrics"] as? [String: Double])
        // Two JSON parsers read the two numbers (JSONSerialization, JSONDecoder): equal to the last bits or nearly.
        for name in ["f1", "accuracy"] {
            let (a, b) = (try #require(metrics[name]), try #require(report.dev[name]))
            #expect(abs(a - b) <= 1e-12, "\(name): eval \(a), finetune \(b)")
        }
        // And `bertology ablate` runs its classifier (one head, a sample of dev).
        let ablate = try CommandLineTool.run(["ablate", "--model", out.path, "--task", "MRPC", "--data", Self.glue, "--limit", "20",
                                              "--heads", "L1-H1", "--layers", "none", "--out", root.appendingPathComponent("ablation").path])
        #expect(ablate.status == 0 && ablate.stdoutText.contains("baseline: f1"), "\(ablate.stderrText)")
    }

    @Test func regressionTaskWritesARegressionHead() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("stsb")
        let run = try Self.finetune(["--task", "STS-B", "--data", Self.glue, "--limit", "16", "--epochs", "1",
                                     "--batch-size", "8", "--max-length", "40", "--out", out.path])
        #expect(run.status == 0, "\(run.stderrText)")
        let config = try Self.json(out.appendingPathComponent("config.json"))
        #expect(config["problem_type"] as? String == "regression")
        #expect((config["id2label"] as? [String: String])?.count == 1)
        let loaded = try Checkpoint.load(out)
        #expect(loaded.model.config.isRegression && loaded.model.config.numLabels == 1)
        let eval = try CommandLineTool.run(["eval", "--model", out.path, "--task", "STS-B", "--data", Self.glue, "--limit", "50"])
        #expect(eval.status == 0, "\(eval.stderrText)")
    }

    @Test func untrainedClassifierIsScoredUnderEverySeed() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("rte0")
        let run = try Self.finetune(["--task", "RTE", "--data", Self.glue, "--epochs", "0", "--seeds", "1,2,3",
                                     "--max-length", "40", "--out", out.path])
        #expect(run.status == 0, "\(run.stderrText)")
        let report = try JSONDecoder().decode(FineTuningReport.self, from: Data(contentsOf: out.appendingPathComponent("train.json")))
        #expect(report.untrained?.map(\.seed) == [1, 2, 3] && report.steps == 0 && report.epochs.isEmpty)
        let range = try #require(report.untrainedRange?["accuracy"])
        let values = report.untrained!.compactMap { $0.dev["accuracy"] }
        #expect(range.min == values.min() && range.max == values.max())
        #expect(report.dev == report.untrained![0].dev, "the saved model is the first seed's")
        #expect(run.stdoutText.contains("accuracy over 3 seeds"))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors").path))
    }

    // MARK: - Interruption and resume

    static let resumeArguments = ["--task", "MRPC", "--data", glue, "--limit", "200", "--epochs", "2", "--batch-size", "4",
                                  "--max-length", "40", "--save-every", "7"]
    static let comparedFiles = ["checkpoint/state.json", "checkpoint/optimizer.safetensors", "checkpoint/train.csv",
                                "train.json", "train.csv", "model.safetensors", "config.json", "vocab.txt", "tokenizer_config.json"]

    static func expectSameBytes(_ a: URL, _ b: URL) throws {
        for name in comparedFiles {
            let left = try Data(contentsOf: a.appendingPathComponent(name)), right = try Data(contentsOf: b.appendingPathComponent(name))
            #expect(left == right, "\(name) differs between the uninterrupted and the resumed run")
        }
    }

    static func savedStep(_ out: URL) -> Int? {
        guard let data = try? Data(contentsOf: out.appendingPathComponent("checkpoint/state.json")),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["step"] as? Int
    }

    @Test func killedMidEpochAndResumedEndsWithTheSameBytes() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let whole = root.appendingPathComponent("whole"), killed = root.appendingPathComponent("killed")
        let reference = try Self.finetune(Self.resumeArguments + ["--out", whole.path])
        #expect(reference.status == 0, "\(reference.stderrText)")

        // Killed (SIGKILL: no chance to save) once its first checkpoint (step 7 of 50 in epoch 1) is on disk.
        let process = try AblationCommandTests.start(["finetune", "--model", Self.model] + Self.resumeArguments + ["--out", killed.path], logs: root)
        let caught = AblationCommandTests.wait(for: process) { Self.savedStep(killed) != nil }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(caught, "the run ended before its first checkpoint could be seen")
        let step = try #require(Self.savedStep(killed))
        #expect(step % 50 != 0, "killed mid-epoch (checkpoint at step \(step))")
        #expect(!FileManager.default.fileExists(atPath: killed.appendingPathComponent("train.json").path))

        // The same command without --resume is refused; with it, the run ends as the uninterrupted one.
        let refused = try Self.finetune(Self.resumeArguments + ["--out", killed.path])
        #expect(refused.status == 2 && refused.stderrText.contains("--resume"))
        let resumed = try Self.finetune(Self.resumeArguments + ["--out", killed.path, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderrText)")
        #expect(resumed.stdoutText.contains("resumed at step \(step)"))
        try Self.expectSameBytes(whole, killed)

        // Resuming a finished run rewrites the same files; another recipe is refused.
        let again = try Self.finetune(Self.resumeArguments + ["--out", killed.path, "--resume"])
        #expect(again.status == 0, "\(again.stderrText)")
        try Self.expectSameBytes(whole, killed)
        let other = try Self.finetune(Self.resumeArguments + ["--out", killed.path, "--resume", "--lr", "1e-4"])
        #expect(other.status == 2 && other.stderrText.contains("learning_rate"), "\(other.stderrText)")
    }

    @Test func interruptedBySIGINTSavesACheckpointAndResumes() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let whole = root.appendingPathComponent("whole"), stopped = root.appendingPathComponent("stopped")
        let arguments = Self.resumeArguments.filter { $0 != "--save-every" && $0 != "7" }
        let reference = try Self.finetune(arguments + ["--out", whole.path])
        #expect(reference.status == 0, "\(reference.stderrText)")

        // No --save-every: the checkpoint on disk after SIGINT is the one the signal made.
        let process = try AblationCommandTests.start(["finetune", "--model", Self.model] + arguments + ["--out", stopped.path],
                                                     logs: root)
        let started = AblationCommandTests.wait(for: process) {
            FileManager.default.fileExists(atPath: stopped.path)
        }
        usleep(20_000)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(started)
        if process.terminationStatus == 130 {
            let step = try #require(Self.savedStep(stopped))
            #expect(step >= 0 && step <= 200)
        }
        let resumed = try Self.finetune(arguments + ["--out", stopped.path, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderrText)")
        try Self.expectSameBytes(whole, stopped)
    }

    // MARK: - Bad input

    /// A glue_data folder with one task's train and dev files (the first `rows` examples of the real
    /// ones), the train file's rows passed through `edit` (columns split on TAB).
    static func glueCopy(_ task: GLUETask, rows: Int, in root: URL, edit: (Int, inout [String]) -> Void = { _, _ in }) throws -> URL {
        let folder = root.appendingPathComponent("glue-\(UUID().uuidString)")
        let taskFolder = folder.appendingPathComponent(task.folderName)
        try FileManager.default.createDirectory(at: taskFolder, withIntermediateDirectories: true)
        for split in ["train", "dev"] {
            let text = String(decoding: try Data(contentsOf: TestPaths.glue.appendingPathComponent("\(task.folderName)/\(split).tsv")), as: UTF8.self)
            var lines = Array(text.split(separator: "\n", omittingEmptySubsequences: false).prefix(rows + 1)).map(String.init)
            if split == "train" {
                for index in 1..<lines.count {
                    var fields = lines[index].components(separatedBy: "\t")
                    edit(index, &fields)
                    lines[index] = fields.joined(separator: "\t")
                }
            }
            try (lines.joined(separator: "\n") + "\n").write(to: taskFolder.appendingPathComponent("\(split).tsv"), atomically: true, encoding: .utf8)
        }
        return folder
    }

    @Test func badInputIsOneLineWithItsExitStatusAndWritesNothing() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let unlabelled = try Self.glueCopy(.mrpc, rows: 8, in: root) { index, fields in if index == 3 { fields[0] = "" } }
        let foreign = try Self.glueCopy(.mrpc, rows: 8, in: root) { index, fields in if index == 2 { fields[0] = "maybe" } }
        let nonEmpty = root.appendingPathComponent("non-empty")
        try FileManager.default.createDirectory(at: nonEmpty, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: nonEmpty.appendingPathComponent("notes.txt"))
        let cases: [(arguments: [String], status: Int32, message: String)] = [
            (["--task", "MRQC", "--data", Self.glue], 2, "MRQC"),
            (["--task", "MRPC", "--data", unlabelled.path], 1, "train.tsv: line 4: the label is empty"),
            (["--task", "MRPC", "--data", foreign.path], 1, "train.tsv: line 3: label \"maybe\" is not one of 0, 1"),
            (["--task", "MRPC", "--data", Self.glue, "--epochs=-1"], 2, "--epochs must be from 0 to 1000"),
            (["--task", "MRPC", "--data", Self.glue, "--epochs", "5000"], 2, "--epochs must be from 0 to 1000"),
            (["--task", "MRPC", "--data", Self.glue, "--lr", "0"], 2, "--lr must be a number above 0"),
            (["--task", "MRPC", "--data", Self.glue, "--lr", "3"], 2, "--lr must be a number above 0"),
            (["--task", "MRPC", "--data", Self.glue, "--batch-size", "0"], 2, "--batch-size must be from 1 to 4096"),
            (["--task", "MRPC", "--data", Self.glue, "--init", "zeros"], 2, "The value 'zeros' is invalid for '--init <pretrained|random>'"),
            (["--task", "MRPC", "--data", Self.glue, "--seeds", "1,2"], 2, "--seeds"),
            (["--task", "MRPC", "--data", Self.glue, "--resume", "--force"], 2, "give one"),
            (["--task", "QNLI", "--data", Self.glue], 1, "QNLI/train.tsv: missing"),
        ]
        for (index, entry) in cases.enumerated() {
            let out = root.appendingPathComponent("out-\(index)")
            let result = try Self.finetune(entry.arguments + ["--out", out.path])
            #expect(result.status == entry.status, "\(entry.arguments): exit \(String(describing: result.status)), \(result.stderrText)")
            let lines = result.stderrText.split(separator: "\n")
            #expect(lines.count == 1 && result.stderrText.contains(entry.message), "\(entry.arguments): \(result.stderrText)")
            #expect(result.stdout.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: out.path), "\(entry.arguments) wrote \(out.path)")
        }
        let refused = try Self.finetune(["--task", "MRPC", "--data", Self.glue, "--out", nonEmpty.path])
        #expect(refused.status == 2 && refused.stderrText.contains("not empty"), "\(refused.stderrText)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: nonEmpty.path) == ["notes.txt"])
    }

    @Test func modelWithoutPoolerGetsANewOneWithANotice() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        // tiny-classifier without pooler and classifier: an encoder-only checkpoint.
        let base = try Checkpoint.load(URL(fileURLWithPath: Self.model))
        let encoder = root.appendingPathComponent("encoder")
        try FileManager.default.createDirectory(at: encoder, withIntermediateDirectories: true)
        let tensors = base.model.weights.namedTensors().filter { !$0.name.hasPrefix("pooler") && !$0.name.hasPrefix("classifier") }
        try SafeTensorsWriter.write(tensors, to: encoder.appendingPathComponent("model.safetensors"))
        for name in ["config.json", "vocab.txt"] {
            try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.model).appendingPathComponent(name),
                                             to: encoder.appendingPathComponent(name))
        }
        let out = root.appendingPathComponent("out")
        let run = try Self.finetune(["--task", "MRPC", "--data", Self.glue, "--epochs", "0", "--max-length", "40", "--out", out.path],
                                    model: encoder.path)
        #expect(run.status == 0, "\(run.stderrText)")
        #expect(run.stderrText.contains("has no pooler (pooler.dense): a new one is created"), "\(run.stderrText)")
        #expect(try Checkpoint.load(out).model.hasPooler)
    }

    @Test func nonFiniteLossStopsAtItsStepAndKeepsTheLastCheckpoint() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        // STS-B scores are read as Double; 1e300 is finite there and infinite as the trainer's Float target.
        let order = EpochShuffle.order(count: 12, seed: 42, epoch: 0)
        let poisonedPosition = 5  // the 6th example of epoch 1's order: step 6 at batch size 1
        let poisonedRow = order[poisonedPosition] + 1
        let data = try Self.glueCopy(.stsb, rows: 12, in: root) { index, fields in
            if index == poisonedRow { fields[fields.count - 1] = "1e300" }
        }
        let out = root.appendingPathComponent("out")
        let run = try Self.finetune(["--task", "STS-B", "--data", data.path, "--epochs", "1", "--batch-size", "1",
                                     "--save-every", "2", "--max-length", "40", "--out", out.path])
        #expect(run.status == 1, "\(run.stderrText)")
        #expect(run.stderrText.contains("training stopped at step 6 of 12"), "\(run.stderrText)")
        #expect(run.stderrText.contains("the last good checkpoint (step 4)"), "\(run.stderrText)")
        #expect(Self.savedStep(out) == 4)
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors").path))
    }
}
