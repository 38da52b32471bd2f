import ArgumentParser
import Bertology
import Foundation

struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a checkpoint on a GLUE split (the official metrics), optionally with heads switched off.",
        discussion: """
        Example: bertology eval --task STS-B --data glue_data --ablate L4-H1,L2-H12 --mode uniform
        --data is the glue_data folder (STS-B/dev.tsv, MNLI/dev_matched.tsv, ...), default $BERTOLOGY_GLUE_DIR or $GLUE_DIR.
        The scorer is the checkpoint's classifier when it has one, else cosine (STS-B only: the cosine of
        the two texts' mean-pooled embeddings). --json prints one object (task, split, n, metrics, model,
        ablation, seconds, ...); --predictions FILE writes one JSON object per example (docs/EVAL.md).
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "GLUE task: CoLA, SST-2, MRPC, QQP, STS-B, MNLI, QNLI, RTE or WNLI (any case).")
    var task: String

    @Option(help: ArgumentHelp("The glue_data folder (default: $BERTOLOGY_GLUE_DIR, else $GLUE_DIR).", valueName: "DIR"))
    var data: String?

    @Option(help: "train, dev (MNLI: matched), dev_mismatched, test, test_mismatched.")
    var split = "dev"

    @Option(help: ArgumentHelp("Evaluate a seeded sample of N examples (kept in file order).", valueName: "N"))
    var limit: Int?

    @Option(help: ArgumentHelp("Seed of the --limit sample.", valueName: "S"))
    var seed: UInt64 = 42

    @OptionGroup var ablation: AblationOptions

    @Option(help: "classifier (the checkpoint's head) or cosine (STS-B, sentence-embedding models). Default: classifier when the checkpoint has one.")
    var scorer: EvaluationScorer?

    @Option(help: ArgumentHelp("The task label each classifier output predicts, comma-separated (overrides config.json id2label).", valueName: "NAMES"))
    var labels: String?

    @Option(help: "Truncate longest-first to this many tokens, specials included (default and maximum: the model's max_position_embeddings).")
    var maxLength: Int?

    @Option(help: "Most padded tokens per batch (batch size x padded length).")
    var tokenBudget = Batcher.defaultTokenBudget

    @Option(help: "Most sequences per batch.")
    var batchSize = Batcher.defaultMaxBatchSize

    @Option(help: ArgumentHelp("Write one JSON line per example to FILE.", valueName: "FILE"))
    var predictions: String?

    @Flag(help: "Replace the --predictions file when it exists (without it, an existing file is refused before the run).")
    var force = false

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    func run() async throws {
        let source = try GLUESource(task: task, split: split, data: data)
        if let limit, limit < 1 { throw BertologyError.usage("--limit must be at least 1") }
        let options = EvaluationOptions(scorer: scorer, maxLength: maxLength,
                                        batcher: try batcher(tokenBudget: tokenBudget, batchSize: batchSize),
                                        labels: commaSeparated(labels))

        // Checked before the (long) run, so an existing file fails at once.
        // Locked from here to the end: another run writing the same file is refused at once.
        let predictionsFile = try predictions.map { try OutputFile.check($0, option: "--predictions", force: force) }
        defer { predictionsFile?.close() }

        let checkpoint = try modelOptions.load()
        let interventions = try ablation.interventions(for: checkpoint.model)
        let dataset = try source.load(limit: limit, seed: seed)
        let bar = TerminalProgressBar()
        let handler = bar.handler
        // SIGINT / SIGTERM stop the run between batches (exit 130); nothing is written then.
        let interruption = Interruption(cleanup: { predictionsFile?.close() }, advice: Interruption.nothingWritten.advice)
        let result = try await runCancellable(interruption) { [dataset] in
            let result: EvaluationResult
            do {
                defer { bar.finish() }
                result = try checkpoint.evaluate(dataset, options: options, interventions: interventions, progress: handler)
            }
            try checkNotCancelled("evaluation of \(task) \(split)")
            if let predictionsFile { try PredictionsFile.write(result, to: predictionsFile.url) }
            return result
        }
        let positions = checkpoint.model.config.maxPositionEmbeddings
        if result.truncated > 0 && (maxLength ?? Int.max) > positions {
            // Cut to fit the model, not as asked: say so once for the file, never per example.
            warn("\(dataset.file.path): \(result.truncated) of \(result.n) examples are longer than the model's \(positions) "
                 + "positions (max_position_embeddings): truncated to \(result.maxLength) tokens, longest first "
                 + "(--max-length sets the length; --predictions marks them)")
        }
        emit(json ? try JSONOutput.line(result) : EvaluationSummary.text(result))
    }
}

extension EvaluationScorer: ExpressibleByArgument {}
