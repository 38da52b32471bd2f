import BertologyEngine
import Foundation

/// The paper's experiments end to end (Kovaleva et al. 2019: Table 1, §4.1-4.6) as one resumable run:
/// fine-tuning (pre-trained and random init, per seed), the untrained classifier, the attention
/// analyses of the pre-trained and the fine-tuned model, their per-head cosine, the head and layer
/// sweep, the viewer's data, and one report beside the paper's numbers.
///
/// ```swift
/// var options = ReproductionOptions(model: URL(fileURLWithPath: "models/all-MiniLM-L6-v2"),
///                                   dataFolder: URL(fileURLWithPath: "glue_data"))
/// options.tasks = [.mrpc]
/// options.limit = 64
/// let run = try Reproduction(options: options)
/// print(run.plan.text)                                   // the stages and the time estimate
/// let result = try run.run(writingTo: URL(fileURLWithPath: "out/repro"), resume: true)
/// print(result.report.claims.map(\.line))
/// ```
///
/// Each stage writes into its own folder (`<Task>/<stage>`, through `OutputFolder`) with the library's
/// own entry points (`FineTuning`, `AttentionAnalysis`, `AblationSweep`), and writes `stage.json`
/// (``ReproductionStageRecord``: what its results depend on, and digests of its main outputs) last.
/// A resumed run skips a stage whose `stage.json` matches, redoes one whose inputs changed (saying
/// which), and continues an interrupted fine-tuning or sweep through their own checkpoints. The
/// report (`index.html`, `reproduce.json`) depends only on the stages' files, so an interrupted and
/// resumed run writes the same bytes as one that was not; wall times go to `timing.json`.
///
/// Cancellation is cooperative: cancelling the current task stops the run between batches or
/// fine-tuning steps (after a checkpoint) with `BertologyError` `.cancelled`.
public struct Reproduction: Sendable {
    /// The file at the top of a run's folder that names the run (its identity) and its plan.
    public static let planFileName = "plan.json"
    /// The file each finished stage writes last.
    public static let stageFileName = "stage.json"
    /// The id of the final step, which writes `index.html`, `reproduce.json` and `timing.json`.
    public static let reportStage = "report"

    public let options: ReproductionOptions
    /// The pre-trained model.
    public let checkpoint: Checkpoint
    /// The pre-trained model in the run's precision, for the analyses and the viewer (its bf16 weight
    /// packs made once per run); fine-tuning starts from `checkpoint`, always fp32.
    let inspected: Checkpoint
    public let plan: ReproductionPlan
    /// The relation file, read.
    public let relations: RelationProbeSet?

    /// Loads the model and the relation file and builds the plan; nothing is written.
    /// - Throws: `BertologyError` `.usage` for bad options; `.io`/`.badInput` for a model that does
    ///   not load (no tokenizer: vocab.txt), a GLUE folder or an asked-for task that is absent, a bad relation file.
    public init(options: ReproductionOptions) throws {
        try options.validate()
        // Paths as one spelling (no `..`, no `.`): the files record them, and a scheduler's jobs name them absolutely.
        var options = options
        options.model = options.model.standardizedFileURL
        options.dataFolder = options.dataFolder.standardizedFileURL
        options.relations = options.relations?.standardizedFileURL
        self.options = options
        checkpoint = try Checkpoint.load(options.model)
        inspected = checkpoint.with(precision: options.precision)
        relations = try options.relations.map { try RelationProbeSet.load($0) }
        let model = checkpoint.model
        plan = try ReproductionPlan.make(options: options, layers: model.layerCount, heads: model.headCount,
                                         parameters: model.config.parameterCount)
    }

    /// What a run did.
    public struct Result: Sendable {
        /// Stages run, in order.
        public let ran: [String]
        /// Stages skipped because their stage.json matched.
        public let skipped: [String]
        /// Stages redone, each with why.
        public let redone: [(stage: String, why: String)]
        /// The report's numbers (`reproduce.json`); nil when only a stage ran.
        public let report: ReproductionReport?
    }

    /// Runs the plan (or one stage of it) into `folder`.
    ///
    /// - Parameters:
    ///   - folder: the run's folder; created when missing.
    ///   - resume: continue the run in `folder`: stages whose `stage.json` matches are skipped,
    ///     others redone or continued. Without it a folder holding a run (or anything) is refused.
    ///   - force: run every stage again in `folder`, whatever it holds.
    ///   - stage: run only this stage (its dependencies must be done), or ``reportStage``; the
    ///     run's folder is then not locked as a whole (each stage locks its own), so several stages run at once.
    ///   - log: the plan (``ReproductionPlan/text``) once the folder is accepted, then one line per
    ///     stage event (`MRPC/ablate: done`, `... redone, its inputs changed: ...`).
    ///   - progress: the stages' progress, phases prefixed with the stage id.
    /// - Throws: `BertologyError` `.usage` for a folder of another run (naming the differences) or
    ///   one that is not empty, without `resume`/`force`; an unknown stage or one whose dependencies
    ///   are not done; `.cancelled` when the task is cancelled; the stages' own errors.
    public func run(writingTo folder: URL, resume: Bool = false, force: Bool = false, stage only: String? = nil,
                    log: (@Sendable (String) -> Void)? = nil, progress: ProgressHandler? = nil) throws -> Result {
        guard !(resume && force) else {
            throw BertologyError.usage("`resume` continues the run in the folder, `force` starts it again: give one")
        }
        if let only, only != Self.reportStage, plan.stage(only) == nil {
            throw BertologyError.usage("no stage \(only) in this plan (its stages: \(plan.stages.map(\.id).joined(separator: ", ")), report)")
        }
        var hashes = FileHashes()
        let identity = try self.identity(&hashes)
        // The whole folder is locked for a whole run; a single stage locks only its own folder.
        let top: OutputFolder? = only == nil || only == Self.reportStage ? try OutputFolder(folder, acceptingContents: true) : nil
        do {
            let result = try run(folder, identity: identity, hashes: &hashes, resume: resume, force: force, only: only, log: log, progress: progress)
            top?.close()
            return result
        } catch {
            // Temporary files of this process go, and the folder when this run made it and it is still empty.
            top?.discard()
            throw error
        }
    }

    private func run(_ folder: URL, identity: [String: String], hashes: inout FileHashes, resume: Bool, force: Bool, only: String?,
                     log: (@Sendable (String) -> Void)?, progress: ProgressHandler?) throws -> Result {
        try checkFolder(folder, identity: identity, resume: resume, force: force, single: only != nil)
        if only == nil {
            log?(plan.text)
            try AtomicFile.write(JSONOutput.encode(PlanFile(identity: identity, plan: plan), pretty: true),
                                 to: folder.appendingPathComponent(Self.planFileName))
        }

        var ran: [String] = [], skipped: [String] = [], redone: [(String, String)] = []
        if only == nil {
            // The whole folder is this run's: the task folders' start markers half-written by a killed run go.
            for parent in Set(plan.stages.map { folder.appendingPathComponent($0.id).deletingLastPathComponent().path }) {
                AtomicFile.removeLeftovers(in: URL(fileURLWithPath: parent))
            }
        }
        for stage in plan.stages where only == nil || only == stage.id {
            if Task.isCancelled { throw BertologyError(.cancelled, "the run stopped before \(stage.id)") }
            let stageFolder = folder.appendingPathComponent(stage.id)
            // The stages this run has still to visit (each may be redone): a model they read is kept for them.
            let pending = only != nil ? [] : Set(plan.stages.drop { $0.id != stage.id }.dropFirst().map(\.id))
            let inputs = try self.inputs(of: stage, in: folder, hashes: &hashes)
            let recordURL = stageFolder.appendingPathComponent(Self.stageFileName)
            let marker = Self.startMarker(stageFolder)
            var continuing = false
            if !force, let data = try? Data(contentsOf: recordURL) {
                if let record = try? JSONDecoder().decode(ReproductionStageRecord.self, from: data) {
                    let differences = inputs.differences(from: record)
                    if differences.isEmpty {
                        skipped.append(stage.id)
                        log?("\(stage.id): done (stage.json matches), skipped")
                        // A run killed between a stage's stage.json and its drops leaves them to do.
                        try dropUnneeded(in: folder, pending: pending, log: log)
                        continue
                    }
                    let why = differences.joined(separator: "; ")
                    redone.append((stage.id, why))
                    log?("\(stage.id): redone, its inputs changed (this run's value first): \(why)")
                } else {
                    redone.append((stage.id, "stage.json is unreadable"))
                    log?("\(stage.id): redone, its stage.json is unreadable")
                }
            } else if !force, let data = try? Data(contentsOf: marker),
                      let started = try? JSONDecoder().decode(ReproductionStageRecord.self, from: data),
                      inputs.differences(from: started).isEmpty {
                continuing = true
                log?("\(stage.id): continued (interrupted before)")
            } else {
                log?("\(stage.id): started")
            }
            // From here until its end the stage is not done: no stage.json (a forced run stopped half-way
            // must not look finished), and its start marker says what it was started with.
            try? FileManager.default.removeItem(at: recordURL)
            try FileManager.default.createDirectory(at: stageFolder.deletingLastPathComponent(), withIntermediateDirectories: true)
            try AtomicFile.write(JSONOutput.encode(inputs, pretty: true), to: marker)
            try restoreDroppedModels(for: stage, in: folder, log: log, progress: progress)
            let start = DispatchTime.now().uptimeNanoseconds
            let outputs = try runStage(stage, in: folder, into: stageFolder, continuing: continuing, progress: progress.map { handler in
                { @Sendable (p: Progress) in handler(Progress(phase: "\(stage.id): \(p.phase)", completed: p.completed, total: p.total, detail: p.detail)) }
            })
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            var record = inputs
            record.outputs = try Dictionary(uniqueKeysWithValues: outputs.map { ($0, try SHA256.hex(file: stageFolder.appendingPathComponent($0))) })
            try AtomicFile.write(JSONOutput.encode(StageTiming(stage: stage.id, seconds: seconds, continued: continuing), pretty: true),
                                 to: stageFolder.appendingPathComponent(StageTiming.fileName))
            try AtomicFile.write(JSONOutput.encode(record, pretty: true), to: recordURL)
            try? FileManager.default.removeItem(at: marker)
            ran.append(stage.id)
            log?("\(stage.id): done in \(ReproductionPlan.duration(seconds))")
            try dropUnneeded(in: folder, pending: pending, log: log)
        }
        var report: ReproductionReport?
        if only == nil || only == Self.reportStage {
            if Task.isCancelled { throw BertologyError(.cancelled, "the run stopped before the report") }
            let missing = plan.stages.filter { !FileManager.default.fileExists(atPath: folder.appendingPathComponent($0.id).appendingPathComponent(Self.stageFileName).path) }
            guard missing.isEmpty else {
                throw BertologyError.usage("the report needs every stage done; not done: \(missing.map(\.id).joined(separator: ", ")) (run them, or the whole plan with `resume`)")
            }
            report = try ReproductionReport.write(plan: plan, options: options, identity: identity, checkpoint: checkpoint, folder: folder)
            log?("report: index.html, reproduce.json, timing.json written")
        }
        return Result(ran: ran, skipped: skipped, redone: redone, report: report)
    }

    /// Writes `plan.json` (identity and plan) into `folder` without running anything: the first
    /// step of a scheduler's run, whose stages then run with `stage:` and `resume`.
    /// - Throws: as ``run(writingTo:resume:force:stage:log:progress:)`` for the folder checks.
    public func writePlan(into folder: URL, resume: Bool, force: Bool) throws {
        var hashes = FileHashes()
        let identity = try self.identity(&hashes)
        let top = try OutputFolder(folder, acceptingContents: true)
        defer { top.close() }
        try checkFolder(folder, identity: identity, resume: resume, force: force, single: false)
        try AtomicFile.write(JSONOutput.encode(PlanFile(identity: identity, plan: plan), pretty: true),
                             to: folder.appendingPathComponent(Self.planFileName))
    }

    // MARK: - The run's identity

    /// What names a run: the model's files, the options. A folder holding a run of another identity is refused.
    func identity(_ hashes: inout FileHashes) throws -> [String: String] {
        var values: [String: String] = [
            "model.name": checkpoint.name,
            "tasks": (plan.tasks + plan.devOnly).map(\.name).joined(separator: ","),
            "seeds": options.seeds.map(String.init).joined(separator: ","),
            "limit": options.limit.map(String.init) ?? "(none)",
            "analysis_examples": "\(options.analysisExamples)",
            "epochs": "\(options.epochs)", "batch_size": "\(options.batchSize)", "max_length": "\(options.maxLength)",
            "mode": options.ablationMode.rawValue, "viewer_examples": "\(options.viewerExamples)", "keep": options.keep.rawValue,
            "relations": try options.relations.map { try hashes.hex($0) } ?? "(none)",
        ]
        for (name, hash) in try hashes.model(checkpoint.folder) { values["model.\(name)"] = hash }
        return values
    }

    private func checkFolder(_ folder: URL, identity: [String: String], resume: Bool, force: Bool, single: Bool) throws {
        let planURL = folder.appendingPathComponent(Self.planFileName)
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0 != OutputFolder.lockFileName }
        guard FileManager.default.fileExists(atPath: planURL.path) else {
            if single { throw BertologyError.usage("\(folder.path) holds no run (no \(Self.planFileName)): write the plan first (the whole run, or a scheduler plan)") }
            if !entries.isEmpty && !force {
                throw BertologyError.usage("\(folder.path) exists, is not empty (\(entries.count) entries) and holds no reproduce run; choose another `folder`, or add `force` to write into it")
            }
            return
        }
        let theirs = (try? JSONDecoder().decode(PlanFile.self, from: Data(contentsOf: planURL)))?.identity
        let differences = ReproductionStageRecord.differences(identity, theirs ?? [:])
        if force { return }
        if !differences.isEmpty && !resume {
            throw BertologyError.usage("\(folder.path) holds another run (this run's value first): \(differences.joined(separator: "; ")); choose another `folder`, add `resume` to redo what changed, or `force` to start again")
        }
        if differences.isEmpty && !resume && !single {
            let done = plan.stages.filter { FileManager.default.fileExists(atPath: folder.appendingPathComponent($0.id).appendingPathComponent(Self.stageFileName).path) }.count
            throw BertologyError.usage("\(folder.path) holds this run (\(done) of \(plan.stages.count) stages done): add `resume` to continue it, or `force` to start again")
        }
    }

    static func startMarker(_ stageFolder: URL) -> URL {
        stageFolder.deletingLastPathComponent().appendingPathComponent(".\(stageFolder.lastPathComponent).started.json")
    }

    /// Everything a stage's results depend on: the version and kernels, the model's and data files'
    /// SHA-256, the options it uses, and the stage.json digest of each dependency.
    func inputs(of stage: ReproductionStage, in folder: URL, hashes: inout FileHashes) throws -> ReproductionStageRecord {
        var inputs: [String: String] = [:]
        for (name, hash) in try hashes.model(checkpoint.folder) { inputs["model.\(name)"] = hash }
        let task = stage.task
        let dev = try GLUEDataset.locate(task: task, split: .dev, folder: options.dataFolder)
        inputs["data.\(task.folderName)/\(dev.lastPathComponent)"] = try hashes.hex(dev)
        inputs["option.limit"] = options.limit.map(String.init) ?? "(none)"
        inputs["option.max_length"] = "\(options.maxLength)"
        switch stage.kind {
        case .finetunePretrained, .finetuneRandom:
            let train = try GLUEDataset.locate(task: task, split: .train, folder: options.dataFolder)
            inputs["data.\(task.folderName)/\(train.lastPathComponent)"] = try hashes.hex(train)
            inputs["option.epochs"] = "\(options.epochs)"
            inputs["option.batch_size"] = "\(options.batchSize)"
            inputs["option.seed"] = "\(stage.seed ?? 0)"
        case .untrained:
            inputs["option.seeds"] = options.untrainedSeeds.map(String.init).joined(separator: ",")
        case .analyzePretrained, .analyzeFinetuned:
            inputs["option.precision"] = options.precision.rawValue
            inputs["option.analysis_examples"] = "\(options.analysisExamples)"
            inputs["option.relations"] = try options.relations.map { try hashes.hex($0) } ?? "(none)"
        case .compare:
            inputs["option.precision"] = options.precision.rawValue
            inputs["option.analysis_examples"] = "\(options.analysisExamples)"
        case .ablate:
            inputs["option.mode"] = options.ablationMode.rawValue
            inputs["option.precision"] = options.precision.rawValue
        case .viewer:
            inputs["option.viewer_examples"] = "\(options.viewerExamples)"
            inputs["option.precision"] = options.precision.rawValue
        }
        for dependency in stage.dependencies {
            let url = folder.appendingPathComponent(dependency).appendingPathComponent(Self.stageFileName)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw BertologyError.usage("\(stage.id) needs \(dependency) first (\(url.path) is missing)")
            }
            inputs["after.\(dependency)"] = try SHA256.hex(file: url)
        }
        return ReproductionStageRecord(stage: stage.id, bertology: BertologyVersion.current, kernels: KernelISA.active.rawValue,
                                       inputs: inputs, outputs: [:])
    }

    // MARK: - What the run keeps

    /// The fine-tuned model's file in a fine-tuning stage's folder, and its training checkpoint folder.
    static let modelFileName = "model.safetensors"

    /// What ``ReproductionOptions/keep`` drops from a finished run, relative to its folder, in plan order:
    /// each fine-tuning's `checkpoint/` and the untrained classifier's model (unless `checkpoints`), and
    /// with `none` each fine-tuned `model.safetensors`.
    static func dropped(plan: ReproductionPlan, keep: ReproductionOptions.Keep) -> [String] {
        var paths: [String] = []
        for stage in plan.stages where stage.kind.fineTunes {
            if keep != .checkpoints && stage.kind != .untrained { paths.append("\(stage.id)/\(FineTuningCheckpointStore.name)/") }
            if dropsModel(of: stage, keep: keep) { paths.append("\(stage.id)/\(modelFileName)") }
        }
        return paths
    }

    /// Whether `keep` lets the model of a fine-tuning stage go (once no stage reads it): every model with
    /// `none`; with `models` the untrained classifier's, which is not a fine-tuned model (the pre-trained
    /// encoder and a seeded new classifier, made again in a moment).
    static func dropsModel(of stage: ReproductionStage, keep: ReproductionOptions.Keep) -> Bool {
        keep == .none || (keep == .models && stage.kind == .untrained)
    }

    /// Removes what ``ReproductionOptions/keep`` lets go and no stage still needs: a done fine-tuning's
    /// `checkpoint/` (its stage.json written, so a resume skips it and never reads the checkpoint), and a
    /// model ``dropsModel(of:keep:)`` names once every stage that reads it (its dependents) is done and none of them is
    /// `pending` (still to be visited by this run, which may redo it). Idempotent: it runs after every
    /// stage, done or skipped, so a run killed in between drops on its resume.
    func dropUnneeded(in folder: URL, pending: Set<String>, log: (@Sendable (String) -> Void)?) throws {
        guard options.keep != .checkpoints else { return }
        func done(_ id: String) -> Bool {
            FileManager.default.fileExists(atPath: folder.appendingPathComponent(id).appendingPathComponent(Self.stageFileName).path)
        }
        // Stages of a scheduler's run drop in parallel: a file another process removed first is not an error.
        func remove(_ url: URL) throws -> Bool {
            guard FileManager.default.fileExists(atPath: url.path) else { return false }
            do { try FileManager.default.removeItem(at: url) } catch {
                if FileManager.default.fileExists(atPath: url.path) {
                    throw BertologyError.io(url.path, "cannot remove it: \(error.localizedDescription)")
                }
            }
            return true
        }
        for stage in plan.stages where stage.kind.fineTunes && done(stage.id) {
            let stageFolder = folder.appendingPathComponent(stage.id)
            var removed: [String] = []
            if try remove(stageFolder.appendingPathComponent(FineTuningCheckpointStore.name)) {
                removed.append(FineTuningCheckpointStore.name + "/")
            }
            if Self.dropsModel(of: stage, keep: options.keep),
               plan.stages.filter({ $0.dependencies.contains(stage.id) }).allSatisfy({ done($0.id) && !pending.contains($0.id) }),
               try remove(stageFolder.appendingPathComponent(Self.modelFileName)) {
                removed.append(Self.modelFileName)
            }
            if !removed.isEmpty { log?("\(stage.id): dropped \(removed.joined(separator: ", ")) (keep \(options.keep.rawValue))") }
        }
    }

    /// Before `stage` runs: a fine-tuned model it reads that `keep` `none` dropped (the stage is redone
    /// because an input changed) is trained again into its folder, the same bytes as before (fine-tuning
    /// is deterministic); its stage.json stays, so nothing after it is redone for that.
    func restoreDroppedModels(for stage: ReproductionStage, in folder: URL, log: (@Sendable (String) -> Void)?,
                              progress: ProgressHandler?) throws {
        for id in stage.dependencies {
            guard let dependency = plan.stage(id), dependency.kind.fineTunes else { continue }
            let dependencyFolder = folder.appendingPathComponent(id)
            guard !FileManager.default.fileExists(atPath: dependencyFolder.appendingPathComponent(Self.modelFileName).path) else { continue }
            log?("\(id): trained again, \(stage.id) reads its model (dropped before: keep \(options.keep.rawValue))")
            _ = try runStage(dependency, in: folder, into: dependencyFolder, continuing: false, progress: progress)
        }
    }

    // MARK: - Stages

    /// The dev split of a task, sampled to `limit`.
    func devSet(_ task: GLUETask) throws -> GLUEDataset {
        let dev = try GLUEDataset.load(task: task, split: .dev, folder: options.dataFolder)
        return options.limit.map { dev.sampled(limit: $0, seed: FineTuningOptions.sampleSeed) } ?? dev
    }

    /// The examples the analyses look at: the dev set, sampled to the analysis size.
    func analysisSet(_ task: GLUETask) throws -> GLUEDataset {
        let dev = try devSet(task)
        return dev.count > options.analysisExamples ? dev.sampled(limit: options.analysisExamples, seed: FineTuningOptions.sampleSeed) : dev
    }

    /// The fine-tuned model of `task` (seed S), in the run's precision.
    func fineTuned(_ task: GLUETask, in folder: URL) throws -> Checkpoint {
        try Checkpoint.load(folder.appendingPathComponent(ReproductionStage.id(.finetunePretrained, task, seed: options.seeds[0])),
                            precision: options.precision)
    }


    /// Runs one stage into `stageFolder`; returns the names of its main outputs (digested in stage.json).
    func runStage(_ stage: ReproductionStage, in folder: URL, into stageFolder: URL, continuing: Bool,
                  progress: ProgressHandler?) throws -> [String] {
        let task = stage.task
        switch stage.kind {
        case .finetunePretrained, .finetuneRandom, .untrained:
            var fineTuning = FineTuningOptions(task: task, dataFolder: options.dataFolder)
            fineTuning.initialization = stage.kind == .finetuneRandom ? .random : .pretrained
            fineTuning.epochs = stage.kind == .untrained ? 0 : options.epochs
            fineTuning.batchSize = options.batchSize
            fineTuning.maxLength = options.maxLength
            fineTuning.limit = options.limit
            if stage.kind == .untrained {
                let seeds = options.untrainedSeeds
                fineTuning.seed = seeds[0]
                fineTuning.extraSeeds = Array(seeds.dropFirst())
            } else {
                fineTuning.seed = stage.seed ?? 42
            }
            var train = try GLUEDataset.load(task: task, split: .train, folder: options.dataFolder)
            if let limit = options.limit { train = train.sampled(limit: limit, seed: FineTuningOptions.sampleSeed) }
            let run = try FineTuning(checkpoint: checkpoint, train: train, dev: try devSet(task), options: fineTuning)
            // Training continues from its checkpoint; the untrained scores (and a training stopped
            // before its first checkpoint) start again.
            let state = stageFolder.appendingPathComponent(FineTuningCheckpointStore.name)
                .appendingPathComponent(FineTuningCheckpointStore.stateName)
            let resume = continuing && stage.kind != .untrained && FileManager.default.fileExists(atPath: state.path)
            _ = try run.run(writingTo: stageFolder, resume: resume, force: !resume, progress: progress)
            return stage.kind == .untrained ? ["train.json"] : ["train.json", "model.safetensors"]
        case .analyzePretrained, .analyzeFinetuned, .compare:
            let model = stage.kind == .analyzeFinetuned ? try fineTuned(task, in: folder) : inspected
            let comparison = stage.kind == .compare ? try fineTuned(task, in: folder) : nil
            let analyses: [AnalysisKind] = stage.kind == .compare ? [.cosine]
                : [.specialTokens, .entropy, .patterns] + (relations != nil ? [.relations] : [])
            let analysisOptions = AnalysisOptions(analyses: analyses, maxLength: options.maxLength, cosineVariants: [.cropped])
            let analysis = try AttentionAnalysis(checkpoint: model, dataset: try analysisSet(task), comparison: comparison,
                                                 relations: analyses.contains(.relations) ? relations : nil, options: analysisOptions)
            let results = try analysis.run(progress: progress)
            if Task.isCancelled { throw BertologyError(.cancelled, "\(stage.id) stopped before writing its results") }
            let output = try OutputFolder(stageFolder, force: true)
            defer { output.close() }
            try AnalysisReport.write(results, to: output, commandLine: nil, timeInPage: false)
            return ["analysis.json"]
        case .ablate:
            let sweepOptions = AblationSweepOptions(mode: options.ablationMode, heads: .all, layers: .all,
                                                    evaluation: EvaluationOptions(maxLength: options.maxLength))
            let sweep = try AblationSweep(checkpoint: try fineTuned(task, in: folder), dataset: try devSet(task), options: sweepOptions)
            let output = try OutputFolder(stageFolder, acceptingContents: true)
            defer { output.close() }
            let results = try sweep.run(in: output, resume: continuing, force: !continuing, progress: progress)
            if Task.isCancelled { throw BertologyError(.cancelled, "\(stage.id) stopped before writing its results") }
            try AblationReport.write(results, to: output)
            return ["ablation.json"]
        case .viewer:
            let sweep = try AblationResults.load(journal: folder.appendingPathComponent(ReproductionStage.id(.ablate, task))
                .appendingPathComponent(AblationJournal.fileName))
            let metric = sweep.primaryMetric
            let scores = AttentionViewerData.HeadScores(metric: metric, baseline: sweep.baseline?.metrics[metric] ?? .nan,
                                                        scores: sweep.headGrid(metric).rows)
            let data = try AttentionViewerData.build(pretrained: inspected, finetuned: try fineTuned(task, in: folder),
                                                     dataset: try devSet(task), examples: options.viewerExamples, headScores: scores)
            let output = try OutputFolder(stageFolder, force: true)
            defer { output.close() }
            try output.write(JSONOutput.encode(data), to: "viewer.json")
            return ["viewer.json"]
        }
    }
}

/// `stage.json`: what a finished stage's results depend on, and the SHA-256 of its main outputs.
/// A resumed run skips the stage when its inputs are the same; `differences` names what changed.
public struct ReproductionStageRecord: Codable, Equatable, Sendable {
    public var format = "bertology-reproduce-stage/1"
    /// The stage id.
    public let stage: String
    /// The Bertology version.
    public let bertology: String
    /// The kernels' instruction set (scalar, avx2, avx512): they round differently in the last bits.
    public let kernels: String
    /// Flat `key -> value`: `model.<file>` and `data.<Task>/<file>` SHA-256, `option.<name>`,
    /// `after.<stage>` the SHA-256 of that dependency's stage.json.
    public let inputs: [String: String]
    /// Output file name -> SHA-256.
    public var outputs: [String: String]

    /// What differs from `other` (this record's value first), one entry per key; empty when the
    /// inputs, version and kernels are the same (outputs are not compared).
    public func differences(from other: ReproductionStageRecord) -> [String] {
        var mine = inputs, theirs = other.inputs
        mine["bertology"] = bertology; theirs["bertology"] = other.bertology
        mine["kernels"] = kernels; theirs["kernels"] = other.kernels
        return Self.differences(mine, theirs)
    }

    static func differences(_ mine: [String: String], _ theirs: [String: String]) -> [String] {
        Set(mine.keys).union(theirs.keys).sorted().compactMap { key in
            let (a, b) = (mine[key] ?? "(none)", theirs[key] ?? "(none)")
            guard a != b else { return nil }
            func short(_ text: String) -> String { text.count == 64 && text.allSatisfy(\.isHexDigit) ? String(text.prefix(12)) : text }
            return "\(key): \(short(a)), not \(short(b))"
        }
    }
}

/// `plan.json`: the run's identity (compared when a run starts in the folder) and its plan.
struct PlanFile: Codable {
    var format = "bertology-reproduce-plan/1"
    let identity: [String: String]
    let plan: ReproductionPlan
}

/// `<stage>/stage-timing.json`: the stage's wall time (kept out of stage.json and the report).
struct StageTiming: Codable {
    static let fileName = "stage-timing.json"
    let stage: String
    let seconds: Double
    let continued: Bool
}

/// SHA-256 of files, each read once per run.
struct FileHashes {
    private var cache: [String: String] = [:]

    mutating func hex(_ url: URL) throws -> String {
        if let hash = cache[url.path] { return hash }
        let hash = try SHA256.hex(file: url)
        cache[url.path] = hash
        return hash
    }

    /// config.json, vocab.txt, model.safetensors or pytorch_model.bin, and (when present) tokenizer_config.json, as the sweep's fingerprint.
    mutating func model(_ folder: URL) throws -> [(String, String)] {
        try ["config.json", "vocab.txt", "model.safetensors", "pytorch_model.bin", "tokenizer_config.json"].compactMap { name in
            let url = folder.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { return nil }
            return (name, try hex(url))
        }
    }
}
