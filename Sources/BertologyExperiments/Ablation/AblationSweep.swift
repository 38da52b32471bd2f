import BertologyEngine
import Foundation

/// Choices of an ablation sweep.
public struct AblationSweepOptions: Sendable {
    /// How a switched-off head behaves (zero: Hugging Face head_mask; uniform: the paper's).
    public var mode: HeadIntervention
    /// The heads switched off one at a time: every head, or those of a selection (a layer in it
    /// stands for each of its heads, each alone; an empty selection for none).
    public var heads: Targets
    /// The layers switched off whole, one at a time: every layer, or those of a selection (layers only).
    public var layers: Targets
    /// The part of the ablation list this run does (``AblationShard/whole`` for all of it).
    public var shard: AblationShard
    /// Scorer, truncation, batching, labels: as `bertology eval`.
    public var evaluation: EvaluationOptions
    /// Memory the prefix cache may take: every batch's hidden state (padded tokens x hidden size
    /// floats; 75 MB for all-MiniLM-L6-v2 on STS-B dev). Above it each pass recomputes the layers
    /// below its layer from the embeddings (about a quarter more work for 6 layers, passes of 4). 0
    /// turns the cache off.
    public var prefixCacheBytes: Int
    /// Most ablations of one layer run together through the data (one pass). They are journaled
    /// when their pass ends, so an interruption loses at most this many; each further pass of a
    /// layer repeats that layer's QKV projection and attention once per batch (with 4, about 2%
    /// more work for all-MiniLM-L6-v2). Outputs do not depend on it.
    public var ablationsPerPass: Int

    /// The default ``prefixCacheBytes``: 1 GiB.
    public static let defaultPrefixCacheBytes = 1 << 30
    /// The default ``ablationsPerPass``: 4 (at most four ablations lost to an interruption).
    public static let defaultAblationsPerPass = 4

    /// Which heads or which layers a sweep switches off, one at a time.
    public enum Targets: Sendable, Hashable {
        /// Every head (or every layer) of the model.
        case all
        /// Those of the selection, 1-based in the paper's notation when printed (`L2-H12,L4-H1`, `L3`).
        case only(HeadSelection)

        /// None at all.
        public static let none = Targets.only(HeadSelection())

        /// Parses `all`, `none`, or heads and layers as the paper names them (`L2-H12,L4-H1`, `L3`;
        /// ``HeadSelection/init(parsing:layerCount:headCount:)``) for a model of `layerCount` x
        /// `headCount` heads: the notation of the journal's fingerprint and of the command line.
        public init(parsing text: String, layerCount: Int, headCount: Int) throws {
            switch text.trimmingCharacters(in: .whitespaces).lowercased() {
            case "all": self = .all
            case "none": self = .none
            default: self = .only(try HeadSelection(parsing: text, layerCount: layerCount, headCount: headCount))
            }
        }
    }

    /// Creates the options; by default every head and every layer, uniform mode, the whole list.
    public init(mode: HeadIntervention = .uniform, heads: Targets = .all, layers: Targets = .all,
                shard: AblationShard = .whole, evaluation: EvaluationOptions = EvaluationOptions(),
                prefixCacheBytes: Int = AblationSweepOptions.defaultPrefixCacheBytes,
                ablationsPerPass: Int = AblationSweepOptions.defaultAblationsPerPass) {
        self.mode = mode
        self.heads = heads
        self.layers = layers
        self.shard = shard
        self.evaluation = evaluation
        self.prefixCacheBytes = prefixCacheBytes
        self.ablationsPerPass = max(1, ablationsPerPass)
    }
}

/// A head and layer ablation sweep (the paper's §4.6, Fig 8 and 9): every chosen head, then every
/// chosen layer, switched off in turn and the model scored on a task, each finished ablation
/// appended to a journal so an interrupted sweep continues where it stopped, and the list
/// splittable into parts (``AblationShard``) that `AblationResults.merge` joins.
///
/// ```swift
/// let sweep = try AblationSweep(checkpoint: checkpoint, dataset: dataset,
///                               options: AblationSweepOptions(mode: .uniform))
/// let results = try sweep.run(in: folder, resume: true)
/// try AblationReport.write(results, to: OutputFolder(folder, force: true))
/// ```
public struct AblationSweep: Sendable {
    public let evaluation: PreparedEvaluation
    public let plan: AblationPlan
    public let shard: AblationShard
    public let fingerprint: AblationFingerprint
    public let options: AblationSweepOptions

    /// Tokenizes and batches the data, resolves the ablation list and fingerprints the model and
    /// data files.
    public init(checkpoint: Checkpoint, dataset: GLUEDataset, options: AblationSweepOptions) throws {
        guard options.mode != .keep else { throw BertologyError.usage("`mode` must be zero or uniform") }
        guard dataset.examples.allSatisfy({ $0.label != nil }) else {
            throw BertologyError.usage("\(dataset.file.path) has no gold labels (a test split): an ablation sweep scores the model against them")
        }
        let model = checkpoint.model
        plan = try AblationPlan(mode: options.mode, heads: options.heads, layers: options.layers,
                                layerCount: model.layerCount, headCount: model.headCount)
        guard plan.ablations.count > 1 else {
            throw BertologyError.usage("nothing to ablate: no heads and no layers are chosen")
        }
        evaluation = try PreparedEvaluation(checkpoint: checkpoint, dataset: dataset, options: options.evaluation)
        shard = options.shard
        self.options = options
        fingerprint = try AblationFingerprint.make(evaluation: evaluation, plan: plan, options: options.evaluation)
    }

    /// The ablations this part runs, in plan order (the baseline first).
    public var ablations: [Ablation] { plan.ablations(in: shard) }

    var journalHeader: AblationJournal.Header {
        AblationJournal.Header(format: AblationJournal.format, version: AblationJournal.version, fingerprint: fingerprint,
                               shard: shard, ablations: ablations.map(\.description))
    }

    /// Runs the ablations of this part that `folder`'s journal does not hold yet, appending each to
    /// it as it finishes, and returns everything the journal then holds.
    ///
    /// - Parameters:
    ///   - folder: created when missing. Without `resume`, a folder that already holds a journal is
    ///     refused unless `force` (which starts the journal again); a non-empty folder without one is
    ///     refused unless `force`, as every output folder.
    ///   - resume: continue the folder's journal (starting one if there is none). Refused, naming
    ///     each difference, when the journal's fingerprint or part differs from this sweep's.
    ///   - force: start the folder's journal again (and write into a non-empty folder).
    ///   - progress: ablations done of those this call runs, updated after every batch.
    ///   - recorded: called after each ablation is safely in the journal.
    /// - Throws: `.cancelled` when the task is cancelled (between batches); the ablations recorded
    ///   until then stay in the journal.
    public func run(in folder: URL, resume: Bool, force: Bool = false, keepFirst: Bool = false,
                    progress: ProgressHandler? = nil,
                    recorded: ((AblationOutcome) -> Void)? = nil) throws -> AblationResults {
        let output = try OutputFolder(folder, acceptingContents: true)
        defer { output.close() }
        return try run(in: output, resume: resume, force: force, keepFirst: keepFirst, progress: progress, recorded: recorded)
    }

    /// ``run(in:resume:force:keepFirst:progress:recorded:)`` in a folder the caller has opened (and
    /// so locked) with `OutputFolder(_:acceptingContents:)`, for a caller that goes on writing its
    /// reports there under the same lock.
    /// - Parameter keepFirst: with `resume`, a journal that records an ablation twice with different
    ///   results keeps the first record and drops the later ones (rewriting the journal) instead of
    ///   refusing; the other recorded ablations are kept and not run again.
    public func run(in output: OutputFolder, resume: Bool, force: Bool = false, keepFirst: Bool = false,
                    progress: ProgressHandler? = nil,
                    recorded: ((AblationOutcome) -> Void)? = nil) throws -> AblationResults {
        let folder = output.url
        let journalURL = folder.appendingPathComponent(AblationJournal.fileName)
        let journal: AblationJournal
        var done: Set<String> = []
        let exists = FileManager.default.fileExists(atPath: journalURL.path)
        if exists && resume {
            let (opened, contents) = try AblationJournal.resume(at: journalURL, keepFirst: keepFirst)
            let differences = fingerprint.differences(from: contents.header.fingerprint)
                + (contents.header.shard == shard ? [] : ["shard: \(shard), not \(contents.header.shard)"])
            guard differences.isEmpty else {
                throw BertologyError.usage("cannot resume \(journalURL.path): this run differs from the journal's (this run's value first): " + differences.joined(separator: "; "))
            }
            journal = opened
            done = Set(contents.records.map(\.ablation))
        } else {
            if exists && !force {
                let contents = try? AblationJournal.read(journalURL)
                let count = contents.map { "\($0.records.count) of \($0.header.ablations.count) ablations done" } ?? "unreadable"
                throw BertologyError.usage("\(folder.path) holds the journal of an earlier sweep (\(count)): add `resume` to continue it, or `force` to start again")
            }
            try output.requireEmpty(force: force || resume)
            if exists { try? FileManager.default.removeItem(at: journalURL) }
            journal = try AblationJournal.create(at: journalURL, header: journalHeader)
        }

        let remaining = ablations.filter { !done.contains($0.description) }
        let engine = AblationEngine(evaluation: evaluation, mode: plan.mode, cacheBytes: options.prefixCacheBytes)
        let layerCount = plan.layerCount
        // By layer, bottom up (each layer starts from the cache the previous one left), in passes of
        // at most `ablationsPerPass` (the last pass of a layer moves the cache up), and the baseline
        // last: with the cache its prefix is the whole model, already computed.
        var groups: [(layer: Int, ablations: [Ablation], advancesCache: Bool)] = []
        let perPass = max(1, options.ablationsPerPass)
        for layer in 0..<layerCount {
            let group = remaining.filter { $0.layer == layer }
            for start in stride(from: 0, to: group.count, by: perPass) {
                let end = min(group.count, start + perPass)
                groups.append((layer, Array(group[start..<end]), end == group.count))
            }
        }
        if remaining.contains(.baseline) { groups.append((layerCount, [.baseline], true)) }

        let total = remaining.count
        let tokens = Double(max(1, evaluation.sequences.paddedTokenCount))
        var finished = 0
        progress?(Progress(phase: "ablations", completed: 0, total: total))
        for group in groups {
            let start = DispatchTime.now().uptimeNanoseconds
            var tokensDone = 0
            let outputs = try engine.run(layer: group.layer, ablations: group.ablations, advancesCache: group.advancesCache) { index in
                let batch = evaluation.sequences.batches[index].batch
                tokensDone += batch.size * batch.sequenceLength
                let partial = Int(Double(group.ablations.count) * Double(tokensDone) / tokens)
                progress?(Progress(phase: "ablations", completed: finished + min(partial, group.ablations.count - 1), total: total))
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(group.ablations.count)
            for (ablation, output) in zip(group.ablations, outputs) {
                let result = evaluation.result(outputs: output, interventions: nil, seconds: seconds)
                let predictions = result.predictions.map { $0.prediction.score ?? Double($0.prediction.classIndex!) }
                try journal.append(AblationJournal.Record(ablation: ablation.description, metrics: result.metrics,
                                                          predictions: predictions, seconds: seconds))
                finished += 1
                recorded?(AblationOutcome(ablation: ablation, metrics: result.metrics, predictions: predictions, seconds: seconds))
            }
            progress?(Progress(phase: "ablations", completed: finished, total: total))
        }
        return try AblationResults.load(journal: journalURL)
    }
}
