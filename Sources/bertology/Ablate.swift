import ArgumentParser
import Bertology
import Foundation

struct Ablate: AsyncParsableCommand, ResumableRun {
    static let resumedRun = "the journal"
    static let configuration = CommandConfiguration(
        abstract: "Switch off every head and every layer in turn and score the model on a task (the paper's Fig 8 and 9).",
        discussion: """
        Example: bertology ablate --task STS-B --data glue_data --mode uniform --out out/stsb-ablation
        Writes ablation.json, ablations.csv, per-head and per-layer grids as .csv/.npy/.svg and index.html into --out.
        Each finished ablation is appended to --out/ablation-journal.jsonl: after an interruption, the same command
        with --resume continues it (refused if the model, data or options differ). --shard I/N runs part I (1-based)
        of N; `bertology merge` joins the parts' folders. Definitions, journal format, sharding: docs/ABLATION.md.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var precision: PrecisionOption

    @Option(help: taskHelp)
    var task: GLUETask

    @OptionGroup var dataset: DatasetOptions<Ablate>

    @OptionGroup var mode: ModeOption

    @Option(help: ArgumentHelp("Heads to switch off one at a time: all, none, or 1-based as the paper names them (L2-H12,L4-H1; L3 = each head of layer 3).", valueName: "all|none|SPEC"))
    var heads = "all"

    @Option(help: ArgumentHelp("Layers to switch off whole, one at a time: all, none, or L1,L6.", valueName: "all|none|SPEC"))
    var layers = "all"

    @Option(help: ArgumentHelp("Run part I (1-based) of N of the ablation list (round-robin; every part also runs the baseline).", valueName: "I/N"))
    var shard: String?

    @Flag(help: "Continue the journal in --out after an interruption (or start one); refused if the model, data or options differ.")
    var resume = false

    @Option(help: ArgumentHelp("Output folder (created; refused when it exists and is not empty, unless --resume or --force).", valueName: "OUTDIR"))
    var out: String

    @Flag(help: "Write into a non-empty --out, starting its journal again.")
    var force = false

    @Flag(help: "With --resume: when the journal records an ablation twice with different results, keep the first record and drop the later ones.")
    var keepFirst = false

    @Option(help: "classifier (the checkpoint's head) or cosine (STS-B, sentence-embedding models). Default: classifier when the checkpoint has one.")
    var scorer: EvaluationScorer?

    @Option(help: ArgumentHelp("The task label each classifier output predicts, comma-separated (overrides config.json id2label).", valueName: "NAMES"))
    var labels: String?

    @Flag(help: "Print ablation.json's content as one JSON line instead of the summary.")
    var json = false

    func validate() throws {
        try validateResumeOrForce()
        guard !keepFirst || resume else { throw BertologyError.usage("--keep-first applies to --resume (it chooses between repeated journal records)") }
        _ = try self.shard.map(AblationShard.init(parsing:))
    }

    func run() async throws {
        let source = try dataset.source(task: task)
        let batching = dataset.batcher
        let shard = try self.shard.map(AblationShard.init(parsing:)) ?? .whole

        let checkpoint = try modelOptions.load(precision: precision.resolved())
        let (layerCount, headCount) = (checkpoint.model.layerCount, checkpoint.model.headCount)
        let heads = try AblationSweepOptions.Targets(parsing: self.heads, layerCount: layerCount, headCount: headCount)
        let layers = try AblationSweepOptions.Targets(parsing: self.layers, layerCount: layerCount, headCount: headCount)
        if case .only(let selection) = layers, !selection.heads.isEmpty {
            throw BertologyError.usage("--layers takes whole layers (L1,L6), not heads (\(selection.heads.map(\.description).joined(separator: ","))); put heads in --heads")
        }
        let options = AblationSweepOptions(
            mode: mode.mode, heads: heads, layers: layers, shard: shard,
            evaluation: EvaluationOptions(scorer: scorer, maxLength: dataset.maxLength,
                                          batcher: batching, labels: commaSeparated(labels)))
        let data = try dataset.load(source)
        if heads == .none && layers == .none { throw BertologyError.usage("nothing to ablate: --heads none and --layers none") }
        let sweep = try AblationSweep(checkpoint: checkpoint, dataset: data, options: options)
        let outURL = URL(fileURLWithPath: out)
        let (resume, force, keepFirst) = (resume, force, keepFirst)
        let journal = outURL.appendingPathComponent(AblationJournal.fileName)
        let commandLine = CommandLine.arguments.joined(separator: " ")
        let dataPath = data.file.path
        // The folder is locked before its journal is read, so a second run on the same --out is
        // refused at once instead of appending to the same journal.
        let (results, files) = try await withOutputFolder(out, force: force, acceptingContents: true) { outFolder in
            let bar = TerminalProgressBar()
            let handler = bar.handler
            let interruption = Interruption.writing(into: outFolder, advice: {
                let done = (try? AblationJournal.read(journal)).map { "\($0.records.count) of \($0.header.ablations.count)" } ?? "the finished"
                return "\(done) ablations are kept in \(journal.path); continue with the same command and --resume"
            })
            // SIGINT / SIGTERM stop the sweep between batches (exit 130); finished ablations stay in the
            // journal. The reports are written inside the cancellable scope, after a last check.
            return try await runCancellable(interruption) { () throws -> (AblationResults, [String]) in
                let results: AblationResults
                do {
                    defer { bar.finish() }
                    results = try sweep.run(in: outFolder, resume: resume, force: force, keepFirst: keepFirst, progress: handler)
                }
                try checkNotCancelled("ablation sweep")
                var files: [String] = []
                if shard.isWhole { files = try AblationReport.write(results, to: outFolder) }
                try AblationReport.writeRunInfo(results, to: outFolder, commandLine: commandLine,
                                                modelPath: checkpoint.folder.path, dataPath: dataPath)
                return (results, files)
            }
        }
        if !shard.isWhole {
            say("ablate: part \(shard) done (\(results.outcomes.count) ablations) in \(outURL.path); when every part is done: bertology merge <their folders> --out DIR")
            return
        }
        emit(json ? try AblationReport.jsonLine(results) : AblationSweepSummary.text(results))
        say("ablate: wrote \(files.count + 1) files to \(outURL.path); open \(outURL.appendingPathComponent("index.html").path)")
    }
}

extension Ablate: DatasetCommand {
    static let splitHelp = "train, dev (MNLI: matched), dev_mismatched."
    static let sampleVerb = "Score"
}
