import ArgumentParser
import Bertology
import Foundation

struct Prune: AsyncParsableCommand, ResumableRun {
    static let resumedRun = "the journal"
    static let configuration = CommandConfiguration(
        abstract: "Prune heads step by step (Michel et al. 2019) in four orders and score the model after each step.",
        discussion: """
        Example: bertology prune --task MRPC --model out/mrpc-model --data glue_data --out out/mrpc-pruning
        Orders: importance (gradient importance recomputed after each step), one-shot (computed once), ablation (the
        score drop of switching each head off alone: --ablation FILE from `ablate --mode zero`, else swept here) and
        random (--random-seeds seeds). Each step removes --step of the remaining heads, never a layer's last head.
        Writes pruning.json, pruning.csv, pruning.svg and index.html; every scored point goes to pruning-journal.jsonl
        first, and --resume continues an interrupted run. Definitions: docs/IMPORTANCE.md.
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: taskHelp)
    var task: GLUETask

    @OptionGroup var dataset: DatasetOptions<Prune>

    @Option(help: "The share of the remaining heads each step removes (at least one head), in (0, 1).")
    var step = 0.1

    @Option(help: ArgumentHelp("Stop an order once its score is below this fraction of the baseline's (default: prune until one head per layer).", valueName: "FRACTION"))
    var until: Double?

    @Option(help: ArgumentHelp("The orders, comma-separated: importance, one-shot, ablation, random.", valueName: "LIST"))
    var orders = "importance,one-shot,ablation,random"

    @Option(help: "Seeds of the random order (1...N).")
    var randomSeeds = 5

    @Option(help: ArgumentHelp("An `ablate --mode zero` run's ablation.json of the same model: the ablation order's drops.", valueName: "FILE"))
    var ablation: String?

    @Option(help: ArgumentHelp("The task label each classifier output predicts, comma-separated (overrides config.json id2label).", valueName: "NAMES"))
    var labels: String?

    @Flag(help: "Continue the journal in --out after an interruption (or start one); refused if the model, data or options differ.")
    var resume = false

    @Option(help: ArgumentHelp("Output folder (created; refused when it exists and is not empty, unless --resume or --force).", valueName: "OUTDIR"))
    var out: String

    @Flag(help: "Write into a non-empty --out, starting its journal again.")
    var force = false

    @Flag(help: "Print pruning.json's content as one JSON line instead of the summary.")
    var json = false

    func pruningOrders() throws -> [PruningOrder] {
        try orders.split(separator: ",").map { item in
            let name = item.trimmingCharacters(in: .whitespaces).lowercased()
            guard let order = PruningOrder(rawValue: name) else {
                throw BertologyError.usage("unknown pruning order \"\(name)\" (importance, one-shot, ablation, random)")
            }
            return order
        }
    }

    func options() throws -> PruningOptions {
        PruningOptions(step: step, until: until, orders: try pruningOrders(), randomSeeds: randomSeeds,
                       evaluation: EvaluationOptions(scorer: .classifier, maxLength: dataset.maxLength, batcher: dataset.batcher,
                                                     labels: commaSeparated(labels)))
    }

    func validate() throws {
        try validateResumeOrForce()
        try options().validate()
        if try ablation != nil && !pruningOrders().contains(.ablation) {
            throw BertologyError.usage("--ablation gives the ablation order's drops, and --orders leaves that order out")
        }
    }

    func run() async throws {
        let source = try dataset.source(task: task)
        let checkpoint = try modelOptions.load(precision: .fp32)
        let ablationURL = ablation.map { URL(fileURLWithPath: $0) }
        let drops = try ablationURL.map { try ImportanceAgainstAblation.readAblation($0, checkpoint: checkpoint) }
        if let drops, drops.mode != "zero" {
            note("\(ablation!) is a \(drops.mode)-mode sweep; pruning removes heads (zero mode), so its order ranks another change")
        }
        let data = try dataset.load(source)
        let pruning = try PruningRun(checkpoint: checkpoint, dataset: data, options: try options())
        let resume = resume
        let result = try await withOutputFolder(out, force: force, acceptingContents: resume) { folder in
            let bar = TerminalProgressBar()
            let handler = bar.handler
            let journal = folder.file(PruningJournal.fileName)
            let interruption = Interruption.writing(into: folder, advice: {
                "the points scored so far are kept in \(journal.path); continue with the same command and --resume"
            })
            return try await runCancellable(interruption) {
                let result: PruningResult
                do {
                    defer { bar.finish() }
                    result = try pruning.run(in: folder, resume: resume, ablationFile: ablationURL, ablation: drops, progress: handler)
                }
                try checkNotCancelled("pruning")
                try PruningReport.write(result, to: folder)
                return result
            }
        }
        emit(json ? try JSONOutput.line(result) : PruningReport.summary(result))
        let folder = URL(fileURLWithPath: out)
        say("prune: wrote \(folder.path); open \(folder.appendingPathComponent("index.html").path)")
    }
}

extension Prune: DatasetCommand {
    static let splitHelp = "train, dev (MNLI: matched), dev_mismatched (labelled splits: scores and the loss need gold labels)."
    static let sampleVerb = "Use"
}
