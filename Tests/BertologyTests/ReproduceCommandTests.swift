import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// `bertology reproduce` as a user runs it, on the tiny fixture classifier and --limit samples of the
/// real GLUE files: bad input is one line with its exit status and writes nothing; the stages run one
/// by one with --stage (as the scheduler jobs run them) write the report a single run writes.
@Suite(.serialized) struct ReproduceCommandTests {
    static let model = TestPaths.fixture("models/tiny-classifier").path
    static let glue = TestPaths.glue.path
    static let quick = ["--tasks", "MRPC", "--limit", "16", "--epochs", "1", "--batch-size", "8", "--max-length", "40",
                        "--analysis-examples", "12", "--viewer-examples", "2"]

    static func reproduce(_ arguments: [String], model: String = model) throws -> CommandLineTool.Result {
        try CommandLineTool.run(["reproduce", "--model", model, "--data", glue] + arguments,
                                environment: ["OMP_NUM_THREADS": "2"], timeout: 120)
    }

    @Test func badInputIsOneLineWithItsExitStatusAndWritesNothing() throws {
        let root = try ReproductionTests.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        // A checkpoint without its tokenizer (vocab.txt).
        let noTokenizer = root.appendingPathComponent("no-tokenizer")
        try FileManager.default.createDirectory(at: noTokenizer, withIntermediateDirectories: true)
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.model).appendingPathComponent(name),
                                             to: noTokenizer.appendingPathComponent(name))
        }
        // A folder holding another run (its plan, written for Slurm; seeds 42).
        let other = root.appendingPathComponent("other")
        let planned = try Self.reproduce(Self.quick + ["--plan", "slurm", "--out", other.path])
        #expect(planned.status == 0, "\(planned.stderrText)")
        let before = try FileManager.default.contentsOfDirectory(atPath: other.path).sorted()

        let cases: [(arguments: [String], model: String, status: Int32, message: String, out: URL?)] = [
            (["--tasks", "QQP", "--limit", "16"], Self.model, 1, "QQP/dev.tsv: missing: QQP is not in the GLUE folder", nil),
            (Self.quick, noTokenizer.path, 1, "vocab.txt", nil),
            (Self.quick + ["--seeds", "7"], Self.model, 2, "holds another run (this run's value first): seeds: 7, not 42", other),
            (Self.quick + ["--plan", "slurm"], Self.model, 2, "--plan slurm writes its files into the run's folder: give --out DIR", nil),
            (Self.quick + ["--plan", "lsf"], Self.model, 2, "The value 'lsf' is invalid for '--plan <local|slurm|k8s>'", nil),
            (Self.quick + ["--resume", "--force"], Self.model, 2, "give one", nil),
            (Self.quick + ["--seeds", "4x"], Self.model, 2, "--seeds takes whole numbers", nil),
            (Self.quick + ["--stage", "MRPC/nothing"], Self.model, 2, "no stage MRPC/nothing in this plan", nil),
        ]
        for (index, entry) in cases.enumerated() {
            let out = entry.out ?? root.appendingPathComponent("out-\(index)")
            // The scheduler plan asked for without --out gets none.
            let withoutOut = entry.message.hasPrefix("--plan slurm writes")
            let result = try Self.reproduce(entry.arguments + (withoutOut ? [] : ["--out", out.path]), model: entry.model)
            #expect(result.status == entry.status, "\(entry.arguments): exit \(String(describing: result.status)), \(result.stderrText)")
            let lines = result.stderrText.split(separator: "\n")
            #expect(lines.count == 1 && result.stderrText.contains(entry.message), "\(entry.arguments): \(result.stderrText)")
            #expect(result.stdout.isEmpty)
            if entry.out == nil {
                #expect(!FileManager.default.fileExists(atPath: out.path), "\(entry.arguments) wrote \(out.path)")
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: other.path).sorted() == before, "the other run's folder is left as it was")
    }

    @Test func stagesRunOneByOneWriteTheReportOfASingleRun() throws {
        let root = try ReproductionTests.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("run")
        let single = try Self.reproduce(Self.quick + ["--out", out.path])
        #expect(single.status == 0, "\(single.stderrText)")
        #expect(single.stdoutText.contains("§4.6 disabling some single heads improves the score [MRPC]"))
        #expect(single.stderrText.contains("plan: 8 stages") && single.stderrText.contains("estimate:"))
        let expected = try ReproductionTests.snapshot(out)
        try FileManager.default.moveItem(at: out, to: root.appendingPathComponent("single"))

        // As the Slurm jobs do: the plan, each stage with --stage ID --resume, then the report.
        let planned = try Self.reproduce(Self.quick + ["--plan", "slurm", "--out", out.path])
        #expect(planned.status == 0 && planned.stdoutText.contains("wrote slurm/submit.sh"), "\(planned.stderrText)")
        let plan = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("plan.json"))) as? [String: Any]
        let stages = try #require((plan?["plan"] as? [String: Any])?["stages"] as? [[String: Any]]).compactMap { $0["id"] as? String }
        #expect(stages.count == 8)
        // A stage whose dependency is not done is refused.
        let early = try Self.reproduce(Self.quick + ["--out", out.path, "--stage", "MRPC/ablate", "--resume"])
        #expect(early.status == 2 && early.stderrText.contains("MRPC/ablate needs MRPC/finetune-pretrained-s42 first"), "\(early.stderrText)")
        for stage in stages + ["report"] {
            let result = try Self.reproduce(Self.quick + ["--out", out.path, "--stage", stage, "--resume"])
            #expect(result.status == 0, "\(stage): \(result.stderrText)")
        }
        try FileManager.default.removeItem(at: out.appendingPathComponent("slurm"))
        #expect(try ReproductionTests.snapshot(out) == expected)

        // --json: reproduce.json's content on one line.
        let json = try Self.reproduce(Self.quick + ["--out", out.path, "--resume", "--json"])
        #expect(json.status == 0 && json.stdoutText.split(separator: "\n").count == 1)
        #expect(Data(json.stdoutText.utf8).count > 0 && json.stdoutText.contains("\"format\":\"bertology-reproduce/1\""))
    }

    @Test func schedulerPlansRunEachStageAfterTheStagesItReads() throws {
        let root = try ReproductionTests.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let slurm = root.appendingPathComponent("s")
        let planned = try Self.reproduce(Self.quick + ["--plan", "slurm", "--out", slurm.path])
        #expect(planned.status == 0 && planned.stdoutText == "wrote plan.json\nwrote slurm/submit.sh\n", "\(planned.stderrText)")
        let script = String(decoding: try Data(contentsOf: slurm.appendingPathComponent("slurm/submit.sh")), as: UTF8.self)
        let lines = script.split(separator: "\n")
        // Stage 4 (analyze-finetuned) waits for stage 0 (finetune-pretrained-s42); the report for all eight.
        #expect(lines.contains("job0=$(submit reproduce-mrpc-finetune-pretrained-s42 '' MRPC/finetune-pretrained-s42)"))
        #expect(lines.contains("job4=$(submit reproduce-mrpc-analyze-finetuned --dependency=afterok:$job0 MRPC/analyze-finetuned)"))
        #expect(lines.contains("job7=$(submit reproduce-viewer --dependency=afterok:$job0:$job6 viewer)"))
        #expect(lines.contains("report=$(submit reproduce-report --dependency=afterok:$job0:$job1:$job2:$job3:$job4:$job5:$job6:$job7 report)"))
        #expect(script.contains("--stage '$3' --resume") && script.contains("--out \(slurm.standardizedFileURL.path)"))
        #expect(!FileManager.default.fileExists(atPath: slurm.appendingPathComponent("MRPC").path), "nothing runs")

        let k8s = root.appendingPathComponent("k")
        let manifests = try Self.reproduce(Self.quick + ["--plan", "k8s", "--out", k8s.path])
        #expect(manifests.status == 0, "\(manifests.stderrText)")
        let names = try FileManager.default.contentsOfDirectory(atPath: k8s.appendingPathComponent("k8s").path).sorted()
        #expect(names.count == 9 && names.first == "00-reproduce-mrpc-finetune-pretrained-s42.yaml" && names.last == "08-reproduce-report.yaml")
        let job = String(decoding: try Data(contentsOf: k8s.appendingPathComponent("k8s/04-reproduce-mrpc-analyze-finetuned.yaml")), as: UTF8.self)
        #expect(job.contains("kind: Job") && job.contains("MRPC/finetune-pretrained-s42/stage.json") && job.contains("- \"MRPC/analyze-finetuned\""))
    }
}
