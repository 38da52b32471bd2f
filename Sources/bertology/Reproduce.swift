import ArgumentParser
import Bertology
import Foundation

struct Reproduce: AsyncParsableCommand, ResumableRun {
    static let resumedRun = "the run in --out"
    static let configuration = CommandConfiguration(
        abstract: "The paper end to end: fine-tuning, analyses, comparison, ablation sweep, one report beside the paper's numbers.",
        discussion: """
        Example: bertology reproduce --data glue_data --tasks MRPC,RTE,STS-B --out out/repro
        Per task: fine-tunes the pre-trained model and a randomly initialised one (each --seeds seed), scores an
        untrained classifier, analyses the pre-trained and the fine-tuned model's attention, compares them head by
        head, and switches off every head and layer of the fine-tuned model; then writes index.html (Table 1 and
        each claim beside the paper's numbers) and reproduce.json into --out. Prints the plan and a time estimate
        first. Each stage writes stage.json last: after an interruption, the same command with --resume skips
        finished stages and continues the interrupted one. --plan slurm|k8s writes scheduler files instead of
        running. Details: docs/REPRODUCE.md.
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: ArgumentHelp("The glue_data folder (default: $BERTOLOGY_GLUE_DIR, $GLUE_DIR).", valueName: "GLUE_DIR"))
    var data: String?

    @Option(help: ArgumentHelp("Tasks, comma-separated (default: the paper's MRPC, QQP, STS-B, SST-2, RTE, QNLI, MNLI present in --data).", valueName: "LIST"))
    var tasks: String?

    @Option(help: ArgumentHelp("Fine-tuning seeds; with several, they are also the untrained classifier's seeds (default: 42; untrained 42-46).", valueName: "S1,S2,..."))
    var seeds = "42"

    @Option(help: ArgumentHelp("A seeded sample of N train and N dev examples per task (a quick run).", valueName: "N"))
    var limit: Int?

    @Option(help: ArgumentHelp("A JSON Lines relation file for the relation probe (§4.2).", valueName: "FILE"))
    var relations: String?

    @Option(help: "Fine-tuning epochs.")
    var epochs = 3

    @Option(help: "Examples per fine-tuning step.")
    var batchSize = 32

    @Option(help: "Truncate longest-first to this many tokens, specials included.")
    var maxLength = 128

    @Option(help: ArgumentHelp("Dev examples the attention analyses use (seeded sample).", valueName: "N"))
    var analysisExamples = ReproductionOptions.defaultAnalysisExamples

    @Option(help: ArgumentHelp("Dev examples the attention viewer embeds.", valueName: "N"))
    var viewerExamples = 8

    @OptionGroup var mode: ModeOption

    @OptionGroup var precision: PrecisionOption

    @Option(help: ArgumentHelp("What to keep of the fine-tunings: checkpoints (everything), models (the fine-tuned models; optimizer state dropped once a stage is done), none (the models too, once no stage reads them).", valueName: "checkpoints|models|none"))
    var keep: ReproductionOptions.Keep = .models

    @Option(help: ArgumentHelp("The run's folder (created; refused when it holds another run or anything else, unless --resume or --force).", valueName: "OUTDIR"))
    var out: String?

    @Flag(help: "Continue the run in --out: skip finished stages, redo changed ones, continue an interrupted one.")
    var resume = false

    @Flag(help: "Run every stage again in --out, whatever it holds.")
    var force = false

    @Option(help: ArgumentHelp("Run only this stage (its dependencies done), or report.", valueName: "ID"))
    var stage: String?

    @Option(help: ArgumentHelp("local (run here), or write scheduler files into --out: slurm (sbatch script), k8s (Job manifests).", valueName: "local|slurm|k8s"))
    var plan: RunPlan = .local

    /// Where the stages run: here, or as a scheduler's jobs.
    enum RunPlan: String, CaseIterable, ExpressibleByArgument {
        case local, slurm, k8s

        init?(argument: String) { self.init(rawValue: argument.lowercased()) }

        /// The scheduler whose files `--plan` writes; nil for a local run.
        var scheduler: ReproductionScheduler? { ReproductionScheduler(rawValue: rawValue) }
    }

    @Flag(help: "Print reproduce.json's content as one JSON line instead of the claims.")
    var json = false

    func validate() throws {
        _ = try seedList(seeds)
        if plan == .local {
            guard out != nil else { throw BertologyError.usage("give --out DIR, the run's folder") }
            try validateResumeOrForce()
        } else {
            guard out != nil else { throw BertologyError.usage("--plan \(plan.rawValue) writes its files into the run's folder: give --out DIR") }
            guard stage == nil else { throw BertologyError.usage("--plan \(plan.rawValue) writes every stage's job; --stage runs one (give one of them)") }
        }
    }

    func run() async throws {
        guard let scheduler = plan.scheduler, let out else { return try await runLocal() }
        let reproduction = try Reproduction(options: try options())
        let files = try reproduction.writeSchedulerPlan(scheduler, into: URL(fileURLWithPath: out), command: try stageCommand(),
                                                        resume: resume, force: force)
        say("\(reproduction.plan.text)")
        emit(files.map { "wrote \($0)" }.joined(separator: "\n"))
    }

    private func runLocal() async throws {
        guard let out else { return }  // validate() requires it
        let reproduction = try Reproduction(options: try options())
        let bar = TerminalProgressBar()
        let handler = bar.handler
        let outURL = URL(fileURLWithPath: out)
        let (resume, force, stage) = (resume, force, stage)
        let interruption = Interruption(advice: {
            "the finished stages and the interrupted one's checkpoint are kept in \(outURL.path); continue with the same command and --resume"
        })
        let result = try await runCancellable(interruption) {
            try reproduction.run(writingTo: outURL, resume: resume, force: force, stage: stage, log: { line in
                bar.message(line.hasPrefix("plan:") ? line : "reproduce: \(namingOptions(line))")
            }, progress: handler)
        }
        guard let report = result.report else { return }
        if json {
            emit(try JSONOutput.line(report))
        } else {
            emit(report.claims.map(\.line).joined(separator: "\n"))
        }
        say("reproduce: \(result.ran.count) stages run, \(result.skipped.count) skipped; open \(outURL.appendingPathComponent("index.html").path)")
    }

    private func options() throws -> ReproductionOptions {
        guard let folder = data.map({ URL(fileURLWithPath: $0) }) ?? DefaultPaths.glue() else {
            throw BertologyError.usage("give --data DIR (the glue_data folder), or set BERTOLOGY_GLUE_DIR")
        }
        var options = ReproductionOptions(model: try modelOptions.modelURL, dataFolder: folder)
        options.tasks = try commaSeparated(tasks)?.map { try GLUETask(parsing: $0) }
        options.seeds = try seedList(seeds)
        options.limit = limit
        options.relations = relations.map { URL(fileURLWithPath: $0) }
        options.epochs = epochs
        options.batchSize = batchSize
        options.maxLength = maxLength
        options.analysisExamples = analysisExamples
        options.viewerExamples = viewerExamples
        options.ablationMode = mode.mode
        options.precision = precision.resolved()
        options.keep = keep
        try options.validate()
        return options
    }

    /// The command a scheduler job runs for one stage: this executable with the same options, as absolute paths.
    private func stageCommand() throws -> [String] {
        func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var command = [executable.path, "reproduce", "--model", absolute(try modelOptions.modelURL.path)]
        if let folder = data.map({ URL(fileURLWithPath: $0) }) ?? DefaultPaths.glue() { command += ["--data", absolute(folder.path)] }
        if let tasks { command += ["--tasks", tasks] }
        command += ["--seeds", seeds]
        if let limit { command += ["--limit", "\(limit)"] }
        if let relations { command += ["--relations", absolute(relations)] }
        command += ["--epochs", "\(epochs)", "--batch-size", "\(batchSize)", "--max-length", "\(maxLength)",
                    "--analysis-examples", "\(analysisExamples)", "--viewer-examples", "\(viewerExamples)",
                    "--mode", mode.mode.rawValue, "--precision", precision.precision.rawValue, "--keep", keep.rawValue]
        if let out { command += ["--out", absolute(out)] }
        return command
    }
}
