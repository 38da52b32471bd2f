import ArgumentParser
import Bertology
import Foundation

@main
struct BertologyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bertology",
        abstract: "Look inside BERT: attention heads, their patterns, and which ones a model really uses.",
        discussion: """
        Heads and layers are named as in Kovaleva et al. (2019), 1-based: L4-H1 is layer 4, head 1; L3 is all of layer 3.
        --model (a folder or a Hugging Face cache id) defaults to $BERTOLOGY_MODEL, else the default model that tools/setup fetches (models/all-MiniLM-L6-v2).
        Exit status: 0 success, 1 bad input (a malformed file), 2 bad usage.
        """,
        subcommands: [Tokenize.self, Inspect.self, Eval.self, Analyze.self, Ablate.self, Merge.self, Finetune.self, Importance.self, Prune.self, Reproduce.self])

    /// ArgumentParser exits 64 on usage errors; Bertology's convention (docs/DESIGN.md) is 2 for bad usage
    /// and 1 for bad input, with one line on stderr naming the file and the problem. A command's usage
    /// checks are its `validate()`, which ArgumentParser runs while parsing and whose errors it wraps
    /// in its own: ``bertologyError(in:)`` finds ours inside, so that they are said like any other.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if let error = bertologyError(in: error) {
                say("bertology: \(error.namingOptions.description)")
                Foundation.exit(error.exitStatus)
            }
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            guard code == .validationFailure else {
                say(fullMessage(for: error))
                Foundation.exit(1)
            }
            // ArgumentParser's own usage errors (an unknown option, a value an enum does not name) in
            // the same one line as ours, with its pointer to the command's help instead of the usage.
            let helpLine = fullMessage(for: error).split(separator: "\n").last { $0.contains("--help") }
            let helpCommand = helpLine.flatMap { $0.split(separator: "'", omittingEmptySubsequences: false).dropFirst().first }
            // A long list of allowed values comes as "following:" and one "  - value" line each: one line.
            let lines = message(for: error).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            let items = lines.dropFirst().map { $0.hasPrefix("- ") ? String($0.dropFirst(2)) : $0 }
            let text = ([lines.first ?? ""] + (items.isEmpty ? [] : [items.joined(separator: ", ")])).joined(separator: " ")
            say("bertology: \(text)\(helpCommand.map { " (see '\($0)')" } ?? "")")
            Foundation.exit(2)
        }
    }

    /// The `BertologyError` that `error` is, or that it wraps: ArgumentParser reports an error thrown
    /// by `validate()` as its own (non-public) `CommandError` holding `ParserError.userValidationError`,
    /// which only reflection can open.
    static func bertologyError(in error: Error, depth: Int = 0) -> BertologyError? {
        if let error = error as? BertologyError { return error }
        guard depth < 4 else { return nil }
        for child in Mirror(reflecting: error).children {
            if let inner = child.value as? Error, let found = bertologyError(in: inner, depth: depth + 1) { return found }
        }
        return nil
    }
}

/// Options every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Checkpoint folder (config.json, vocab.txt, model.safetensors or pytorch_model.bin), or a Hugging Face model id "
            + "(owner/name[@revision]) already in the local Hugging Face cache; never downloads.", valueName: "DIR|ID"))
    var model: String?

    /// The checkpoint folder: the folder or cache id `--model` names, else $BERTOLOGY_MODEL, else the default model.
    var modelURL: URL { get throws { try ModelLocator.locate(model) } }

    /// The checkpoint, its model in `precision` (`PrecisionOption.resolved()`).
    func load(precision: Precision = .fp32) throws -> Checkpoint { try Checkpoint.load(try modelURL, precision: precision) }
}

/// Head interventions from `--ablate SPEC --mode zero|uniform`.
struct AblationOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Heads or layers to switch off, 1-based as the paper names them: L4-H1,L2-H12 or L3.", valueName: "SPEC"))
    var ablate: String?

    @OptionGroup var mode: ModeOption

    func interventions(for model: BertModel) throws -> HeadInterventions? {
        guard let ablate else { return nil }
        let selection = try HeadSelection(parsing: ablate, layerCount: model.layerCount, headCount: model.headCount)
        return HeadInterventions(selection, mode: mode.mode, layerCount: model.layerCount, headCount: model.headCount)
    }
}

/// `--mode zero|uniform`, how a switched-off head behaves (`eval`, `inspect` and `ablate`).
struct ModeOption: ParsableArguments {
    @Option(help: "How switched-off heads behave: zero (Hugging Face head_mask) or uniform (1/L on every real token, the paper's).")
    var mode: HeadIntervention = .uniform
}

extension HeadIntervention: ExpressibleByArgument {}

/// `--precision fp32|bf16|bf16x3|int8`, how the model's products round their operands (every command
/// that runs the model; docs/PRECISION.md). An unknown name is a usage error (exit 2).
struct PrecisionOption: ParsableArguments {
    @Option(help: "fp32 (default), bf16, bf16x3 (near fp32), or int8 (linear layers quantized; attention stays fp32): the precision of the model's products (docs/PRECISION.md). bf16 falls back to fp32, with a notice, where the CPU has no bf16 unit; int8 runs on VNNI, AVX2, or (with a notice) the scalar reference.")
    var precision: Precision = .fp32

    /// The precision to load the model in on this CPU: the one asked for, or fp32 with one notice line
    /// on stderr when the CPU (or BERTOLOGY_ISA) cannot run it (`Precision.choose`).
    func resolved() -> Precision {
        let choice = Precision.choose(precision)
        if let text = choice.notice { note(text) }
        return choice.precision
    }
}

extension Precision: ExpressibleByArgument {}
extension ReproductionOptions.Keep: ExpressibleByArgument {}

/// The command-line option of each setting the library's messages name in backticks (`` `maxLength` ``):
/// the library says what is wrong in its words, the CLI names the flag that fixes it.
let optionOfSetting: [String: String] = [
    "maxLength": "--max-length", "limit": "--limit", "batchSize": "--batch-size", "labels": "--labels",
    "scorer": "--scorer", "mode": "--mode", "shard": "--shard", "analyses": "--only", "dataset": "--task, --data",
    "relations": "--relations FILE", "comparison": "--compare DIR", "resume": "--resume", "force": "--force",
    "keepFirst": "--keep-first", "folder": "--out folder", "epochs": "--epochs", "learningRate": "--lr",
    "warmupRatio": "--warmup-ratio", "weightDecay": "--weight-decay", "saveEvery": "--save-every",
    "extraSeeds": "--seeds", "initialization": "--init", "seeds": "--seeds", "precision": "--precision",
    "step": "--step", "until": "--until", "orders": "--orders", "randomSeeds": "--random-seeds",
]

/// `text` with each setting named in backticks replaced by its option (``optionOfSetting``).
func namingOptions(_ text: String) -> String {
    guard text.contains("`") else { return text }
    var result = text
    for (setting, option) in optionOfSetting { result = result.replacingOccurrences(of: "`\(setting)`", with: option) }
    return result
}

extension BertologyError {
    /// This error as the CLI says it: its settings named by their options.
    var namingOptions: BertologyError {
        BertologyError(kind, file: file, location: location, bertology.namingOptions(reason))
    }
}

/// Writes one line to stdout (results) without buffering surprises.
func emit(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// Writes one line to stderr: every message of the command line but the progress bar's drawing
/// (``TerminalProgressBar``) goes through here.
func say(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Writes one note to stderr, its settings named by their options: the run does something other than
/// asked (a fallback, a default it chose) and says so.
func note(_ text: String) {
    say("bertology: note: \(namingOptions(text))")
}

/// Writes one warning line to stderr: the run goes on, but the user should know.
func warn(_ text: String) {
    say("bertology: warning: \(text)")
}

/// The usage check of the commands that write a run into `--out` which can be continued (`--resume`)
/// or started again (`--force`): one of the two at most.
protocol ResumableRun {
    var resume: Bool { get }
    var force: Bool { get }
    /// What `--resume` continues, in "--resume continues ..., --force starts it again".
    static var resumedRun: String { get }
}

extension ResumableRun {
    func validateResumeOrForce() throws {
        guard !(resume && force) else {
            throw BertologyError.usage("--resume continues \(Self.resumedRun), --force starts it again: give one")
        }
    }
}

/// The GLUE split a command reads: `--task`, `--split` and `--data` with the folder resolved
/// (usage errors come before any model is loaded); `load` reads it later.
struct GLUESource {
    let task: GLUETask
    let split: GLUESplit
    let folder: URL

    init(task: GLUETask, split: GLUESplit, data: String?) throws {
        self.task = task
        self.split = split
        guard let folder = data.map({ URL(fileURLWithPath: $0) }) ?? DefaultPaths.glue() else {
            throw BertologyError.usage("give --data DIR (the glue_data folder), or set BERTOLOGY_GLUE_DIR")
        }
        self.folder = folder
    }

    /// Reads the split, then takes the seeded `--limit` sample when one is given.
    func load(limit: Int?, seed: UInt64) throws -> GLUEDataset {
        let dataset = try GLUEDataset.load(task: task, split: split, folder: folder)
        return limit.map { dataset.sampled(limit: $0, seed: seed) } ?? dataset
    }
}

/// A comma-separated option (`--labels`) as its items, spaces trimmed.
func commaSeparated(_ text: String?) -> [String]? {
    text.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
}

/// `--seeds S1,S2,...` (finetune, reproduce) as numbers.
func seedList(_ text: String) throws -> [UInt64] {
    try commaSeparated(text)!.map { item -> UInt64 in
        guard let value = UInt64(item) else { throw BertologyError.usage("--seeds takes whole numbers separated by commas (got \"\(item)\")") }
        return value
    }
}

// MARK: - Values of options

// The library's enums as option values: ArgumentParser lists their values in the help and refuses
// others itself (exit 2). The names are accepted as the library parses them (any case, aliases).
extension GLUETask: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
}

extension GLUESplit: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
    public static var allValueStrings: [String] { ["train", "dev", "test", "dev_mismatched", "test_mismatched"] }
}

extension TrainingInitialization: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
    public static var allValueStrings: [String] { ["pretrained", "random"] }
    public var defaultValueDescription: String { name }
}
