import ArgumentParser
import Bertology
import Foundation

/// How a command that runs over a GLUE split words the help of ``DatasetOptions`` where the commands differ.
protocol DatasetCommand {
    /// The splits the command reads, for `--split`'s help.
    static var splitHelp: String { get }
    /// What the command does with the `--limit` sample: "Evaluate", "Analyse", "Score".
    static var sampleVerb: String { get }
    /// `--seed`'s help.
    static var seedHelp: String { get }
}

extension DatasetCommand {
    static var splitHelp: String { "train, dev (MNLI: matched), dev_mismatched, test, test_mismatched." }
    static var seedHelp: String { "Seed of the --limit sample." }
}

/// `--task`'s help for the commands that need a task.
let taskHelp = ArgumentHelp("GLUE task: CoLA, SST-2, MRPC, QQP, STS-B, MNLI, QNLI, RTE or WNLI (any case).")
/// `--data`'s help (every command that reads GLUE data).
let dataHelp = ArgumentHelp("The glue_data folder (default: $BERTOLOGY_GLUE_DIR, else $GLUE_DIR).", valueName: "DIR")

/// The dataset options `eval`, `analyze` and `ablate` share: the data folder, the split, a seeded
/// sample, truncation and batching, declared once. (`--task` stays with each command: `analyze` may
/// go without one. `finetune` shares `--task` and `--data`; its sample, seed, length and batch size
/// mean other things there, with other defaults.)
struct DatasetOptions<Command: DatasetCommand>: ParsableArguments {
    @Option(help: dataHelp)
    var data: String?

    @Option(help: ArgumentHelp(Command.splitHelp))
    var split: GLUESplit = .dev

    @Option(help: ArgumentHelp("\(Command.sampleVerb) a seeded sample of N examples (kept in file order).", valueName: "N"))
    var limit: Int?

    @Option(help: ArgumentHelp(Command.seedHelp, valueName: "S"))
    var seed: UInt64 = 42

    @Option(help: "Truncate longest-first to this many tokens, specials included (default and maximum: the model's max_position_embeddings).")
    var maxLength: Int?

    @Option(help: "Most padded tokens per batch (batch size x padded length).")
    var tokenBudget = Batcher.defaultTokenBudget

    @Option(help: "Most sequences per batch.")
    var batchSize = Batcher.defaultMaxBatchSize

    func validate() throws {
        if let limit, limit < 1 { throw BertologyError.usage("--limit must be at least 1") }
        guard tokenBudget >= 1, batchSize >= 1 else { throw BertologyError.usage("--token-budget and --batch-size must be at least 1") }
    }

    /// `--task` with `--split` and `--data`, the folder resolved (before any model is loaded).
    func source(task: GLUETask) throws -> GLUESource {
        try GLUESource(task: task, split: split, data: data)
    }

    /// `--token-budget` and `--batch-size` as the batcher.
    var batcher: Batcher { Batcher(tokenBudget: tokenBudget, maxBatchSize: batchSize) }

    /// Reads `source`'s split and takes the seeded `--limit` sample.
    func load(_ source: GLUESource) throws -> GLUEDataset {
        try source.load(limit: limit, seed: seed)
    }

    /// The one truncation warning (``warnTruncation(_:positions:to:maxLength:hint:)``) for a run over
    /// `file` in which `truncated` of `examples` examples were cut to `length` tokens.
    func warnIfTruncated(in file: String, _ truncated: Int, of examples: Int, to length: Int, positions: Int, hint: String = "") {
        guard truncated > 0 else { return }
        warnTruncation("\(file): \(truncated) of \(examples) examples are longer than", positions: positions,
                       to: "\(length) tokens", maxLength: maxLength, hint: hint)
    }
}

/// The one warning for inputs cut to fit the model rather than as `--max-length` asked (`eval`,
/// `analyze`, `inspect`): said once for the run, never per example, and not at all when `--max-length`
/// asked for the cut (it is at most the model's positions).
/// - Parameters:
///   - subject: what is longer, up to "than": "FILE: 3 of 40 examples are longer than".
///   - positions: the model's `max_position_embeddings`.
///   - length: what it was cut to ("512 tokens").
///   - maxLength: `--max-length` as given.
///   - hint: more advice after the `--max-length` one ("; --predictions marks them").
func warnTruncation(_ subject: String, positions: Int, to length: String, maxLength: Int?, hint: String = "") {
    guard (maxLength ?? Int.max) > positions else { return }
    warn("\(subject) the model's \(positions) positions (max_position_embeddings): truncated to \(length), longest first "
         + "(--max-length sets the length\(hint))")
}
