import BertologyEngine
import Foundation

/// What `Reproduction` runs: the model, the GLUE folder, the tasks, the seeds, the sample sizes.
public struct ReproductionOptions: Sendable, Equatable {
    /// The paper's tasks, in its order (Table 1).
    public static let paperTasks: [GLUETask] = [.mrpc, .qqp, .stsb, .sst2, .rte, .qnli, .mnli]
    /// Seeds of the untrained classifier (the no-fine-tuning column's range) when one seed is given.
    public static let defaultUntrainedSeeds: [UInt64] = [42, 43, 44, 45, 46]
    /// Dev examples the attention analyses look at (the paper's 1,000-example sample).
    public static let defaultAnalysisExamples = 1000

    /// The pre-trained checkpoint folder.
    public var model: URL
    /// The GLUE folder (`<Task>/train.tsv`, `<Task>/dev.tsv`).
    public var dataFolder: URL
    /// The tasks; nil: the paper's tasks present in ``dataFolder``.
    public var tasks: [GLUETask]?
    /// Fine-tuning seeds: each gives one pre-trained and one random-init fine-tuned model; the
    /// first one's fine-tuned model is analysed and ablated.
    public var seeds: [UInt64] = [42]
    /// A seeded sample (seed 42) of N train and N dev examples for every step; nil: the whole splits
    /// (analyses: at most ``analysisExamples``).
    public var limit: Int?
    /// Dev examples the attention analyses use (a seeded sample when the split is larger).
    public var analysisExamples: Int = ReproductionOptions.defaultAnalysisExamples
    /// A relation file (JSON Lines) for the §4.2 relation probe; nil: no probe.
    public var relations: URL?
    /// Fine-tuning epochs (the paper's 3).
    public var epochs: Int = 3
    /// Examples per fine-tuning step (the paper's 32).
    public var batchSize: Int = 32
    /// Truncation length of every step (the paper's 128).
    public var maxLength: Int = 128
    /// How a switched-off head behaves in the sweep (uniform: the paper's).
    public var ablationMode: HeadIntervention = .uniform
    /// Dev examples the attention viewer embeds.
    public var viewerExamples: Int = 8
    /// The precision of the analyses', the sweep's and the viewer's forward passes (docs/PRECISION.md);
    /// fine-tuning and its dev scores are always fp32.
    public var precision: Precision = .fp32
    /// What of the fine-tuning stages' files the run keeps once no stage needs them (default: the models).
    public var keep: Keep = .models

    /// What a run keeps of its fine-tuning stages' files. Nothing a later stage of the run reads is
    /// dropped before that stage is done, and nothing a finished stage needs to be skipped on resume.
    public enum Keep: String, Sendable, Equatable, CaseIterable, Codable {
        /// Everything: the fine-tuned models, their optimizer state and training checkpoints (`checkpoint/`).
        case checkpoints
        /// The fine-tuned models (`model.safetensors`, a Hugging Face folder); each fine-tuning's
        /// `checkpoint/` (optimizer state, the resume point) is dropped once that stage is done, and the
        /// untrained classifier's model (not fine-tuned: the pre-trained encoder and a seeded new head).
        case models
        /// Neither: a fine-tuned `model.safetensors` is dropped too, once every stage that reads it is
        /// done (the untrained and the unanalysed seeds' models when their stage is done).
        case none
    }

    public init(model: URL, dataFolder: URL) {
        self.model = model
        self.dataFolder = dataFolder
    }

    /// Seeds of the untrained classifier: ``seeds`` when there are several, else ``defaultUntrainedSeeds``.
    public var untrainedSeeds: [UInt64] { seeds.count > 1 ? seeds : Self.defaultUntrainedSeeds }

    /// Checks the values (nothing is read).
    /// - Throws: `BertologyError` `.usage` naming the setting.
    public func validate() throws {
        guard !seeds.isEmpty else { throw BertologyError.usage("`seeds` names no seed") }
        guard Set(seeds).count == seeds.count else { throw BertologyError.usage("`seeds` names a seed twice") }
        if let limit, limit < 1 { throw BertologyError.usage("`limit` must be at least 1") }
        guard analysisExamples >= 1 else { throw BertologyError.usage("the analyses need at least 1 example") }
        guard epochs >= 1 else { throw BertologyError.usage("`epochs` must be at least 1 (the untrained column is a stage of its own)") }
        guard batchSize >= 1 else { throw BertologyError.usage("`batchSize` must be at least 1") }
        guard ablationMode != .keep else { throw BertologyError.usage("`mode` must be zero or uniform") }
        guard viewerExamples >= 1 else { throw BertologyError.usage("the viewer needs at least 1 example") }
    }
}

/// One step of a reproduction: what it runs, what it needs, where it writes.
public struct ReproductionStage: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// Fine-tune the pre-trained encoder with a new classifier (Table 1, last column).
        case finetunePretrained = "finetune-pretrained"
        /// Fine-tune from random weights (Table 1, random-init column).
        case finetuneRandom = "finetune-random"
        /// Score the new, untrained classifier on the pre-trained encoder, per seed (Table 1, first column).
        case untrained
        /// Special tokens, entropy, pattern types (and relations) of the pre-trained model (§4.1-4.5).
        case analyzePretrained = "analyze-pretrained"
        /// The same analyses of the fine-tuned model.
        case analyzeFinetuned = "analyze-finetuned"
        /// Per-head cosine between the pre-trained and the fine-tuned maps (§4.3, Fig 5).
        case compare
        /// Every head and every layer of the fine-tuned model switched off (§4.6, Fig 8-9).
        case ablate
        /// The attention viewer's data.
        case viewer

        /// A fine-tuning stage (the untrained one included): its folder holds a model and, trained, a checkpoint.
        var fineTunes: Bool { self == .finetunePretrained || self == .finetuneRandom || self == .untrained }
    }

    /// Stable id and output folder, relative to the run's folder: `MRPC/finetune-pretrained-s42`, `viewer`
    /// (made by ``id(_:_:seed:)`` only).
    public let id: String

    /// The id of the stage of `kind` on `task`: `<Task>/<kind>`, `-s<seed>` after a fine-tuning's, `viewer`
    /// for the viewer (one per run). The one place a stage id or a stage folder's name is made.
    public static func id(_ kind: Kind, _ task: GLUETask, seed: UInt64? = nil) -> String {
        switch kind {
        case .finetunePretrained, .finetuneRandom: "\(task.name)/\(kind.rawValue)-s\(seed ?? 0)"
        case .viewer: kind.rawValue
        case .untrained, .analyzePretrained, .analyzeFinetuned, .compare, .ablate: "\(task.name)/\(kind.rawValue)"
        }
    }
    public let kind: Kind
    /// The task (every stage has one; the viewer's is the task whose examples it shows).
    public let task: GLUETask
    /// The fine-tuning seed (fine-tuning stages; the analysed model's seed for the others).
    public let seed: UInt64?
    /// Ids of the stages whose outputs it reads.
    public let dependencies: [String]
    /// Examples run through a model, counted as forward passes (a training example counts 3: forward and backward).
    public let work: Double
    /// One line for the plan.
    public let summary: String
}

/// A GLUE task the run leaves out, and why.
public struct ReproductionMissingTask: Sendable, Codable, Equatable {
    public let task: GLUETask
    /// What is missing and how to add it.
    public let reason: String
}

/// The ordered stages of a run (dependencies first), the tasks left out, the time estimate.
public struct ReproductionPlan: Sendable, Codable, Equatable {
    /// Seconds per example pass of a 110M-parameter model on 2 cores, the constant the estimate scales
    /// by the model's parameters: measured with all-MiniLM-L6-v2 on a 2-core AVX-512 machine (Intel
    /// model 207) from its MRPC, RTE and STS-B fine-tunings (0.040-0.082 by the tasks' sentence lengths;
    /// a training example is 3 passes) and its STS-B sweep (an ablation's example: ``ablationPasses``).
    public static let secondsPerBaseExample = 0.055
    /// Passes an ablation's example counts: the sweep shares the layers before the ablated one and
    /// runs no backward (the STS-B sweep measured 0.22; sentence pairs longer than STS-B's cost more).
    public static let ablationPasses = 0.3

    public let stages: [ReproductionStage]
    /// Tasks that get fine-tuning, analyses and the sweep.
    public let tasks: [GLUETask]
    /// Tasks with a dev split but no train split: the pre-trained model's analyses only.
    public let devOnly: [GLUETask]
    /// The paper's tasks absent from the GLUE folder (or asked for and absent).
    public let missing: [ReproductionMissingTask]
    /// The estimate of the whole plan's time, seconds.
    public let estimatedSeconds: Double
    /// How the estimate was made.
    public let estimateBasis: String

    /// The stage with this id.
    public func stage(_ id: String) -> ReproductionStage? { stages.first { $0.id == id } }

    /// The plan as the lines printed before a run starts.
    public var text: String {
        var lines: [String] = []
        lines.append("plan: \(stages.count) stages, \(tasks.count) task(s) fine-tuned\(devOnly.isEmpty ? "" : ", \(devOnly.map(\.name).joined(separator: ", ")) analysed only (no train split)")")
        for stage in stages {
            let after = stage.dependencies.isEmpty ? "" : "  (after \(stage.dependencies.joined(separator: ", ")))"
            lines.append("  \(stage.id): \(stage.summary)\(after)")
        }
        for missing in self.missing { lines.append("  missing \(missing.task.name): \(missing.reason)") }
        lines.append("estimate: \(Self.duration(estimatedSeconds)) (\(estimateBasis))")
        return lines.joined(separator: "\n")
    }

    /// `1 h 05 min`, `12 min`, `40 s`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s >= 3600 { return "\(s / 3600) h \(String(format: "%02d", (s % 3600) / 60)) min" }
        if s >= 60 { return "\(s / 60) min" }
        return "\(s) s"
    }
}

extension ReproductionPlan {
    /// Builds the plan of `options` for a model of `layers` x `heads` with `parameters` weights,
    /// reading only the sizes of the GLUE files (lines, not contents).
    /// - Throws: `BertologyError` `.usage` when a task asked for by name is not in the GLUE folder.
    static func make(options: ReproductionOptions, layers: Int, heads: Int, parameters: Int) throws -> ReproductionPlan {
        let folder = options.dataFolder
        func has(_ task: GLUETask, _ split: GLUESplit) -> Bool { (try? GLUEDataset.locate(task: task, split: split, folder: folder)) != nil }
        var tasks: [GLUETask] = [], devOnly: [GLUETask] = [], missing: [ReproductionMissingTask] = []
        let how = "add <Task>/train.tsv and dev.tsv from the GLUE benchmark (the GLUE download script, or Hugging Face datasets nyu-mll/glue written as TSV) to \(folder.path)"
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw BertologyError.io(folder.path, "no such GLUE data folder (expected the glue_data layout: MRPC/train.tsv, MRPC/dev.tsv, ...)")
        }
        if let asked = options.tasks {
            for task in asked {
                guard has(task, .dev) else {
                    let file = folder.appendingPathComponent(task.folderName).appendingPathComponent(task.fileName(for: .dev))
                    throw BertologyError.io(file.path, "missing: \(task.name) is not in the GLUE folder; " + how.replacingOccurrences(of: "<Task>", with: task.folderName))
                }
                if has(task, .train) { tasks.append(task) } else { devOnly.append(task) }
            }
        } else {
            for task in ReproductionOptions.paperTasks {
                if has(task, .dev) {
                    if has(task, .train) { tasks.append(task) } else { devOnly.append(task) }
                } else {
                    missing.append(ReproductionMissingTask(task: task, reason: "no \(task.folderName)/\(task.fileName(for: .dev)): " + how.replacingOccurrences(of: "<Task>", with: task.folderName)))
                }
            }
            guard !tasks.isEmpty || !devOnly.isEmpty else {
                throw BertologyError.io(folder.path, "none of the paper's tasks (\(ReproductionOptions.paperTasks.map(\.name).joined(separator: ", "))) is in the GLUE folder \(folder.path): \(how)")
            }
        }
        func lines(_ task: GLUETask, _ split: GLUESplit) -> Int {
            guard let url = try? GLUEDataset.locate(task: task, split: split, folder: folder),
                  let data = try? Data(contentsOf: url, options: .mappedIfSafe) else { return 0 }
            return max(0, data.reduce(0) { $1 == 10 ? $0 + 1 : $0 } - (task == .cola ? 0 : 1))
        }
        func sample(_ count: Int) -> Int { options.limit.map { min($0, count) } ?? count }

        var stages: [ReproductionStage] = []
        let firstSeed = options.seeds[0]
        for task in tasks + devOnly {
            let dev = sample(lines(task, .dev))
            let analysed = min(dev, options.analysisExamples)
            let pretrainedAnalysis = ReproductionStage.id(.analyzePretrained, task)
            let fineTuned = tasks.contains(task)
            if fineTuned {
                let train = sample(lines(task, .train))
                let trainWork = Double(options.epochs * train * 3 + options.epochs * dev)
                for seed in options.seeds {
                    stages.append(ReproductionStage(id: ReproductionStage.id(.finetunePretrained, task, seed: seed), kind: .finetunePretrained, task: task, seed: seed,
                                                    dependencies: [], work: trainWork,
                                                    summary: "fine-tune the pre-trained model, seed \(seed), \(options.epochs) epochs on \(train) train examples, scored on \(dev) dev"))
                    stages.append(ReproductionStage(id: ReproductionStage.id(.finetuneRandom, task, seed: seed), kind: .finetuneRandom, task: task, seed: seed,
                                                    dependencies: [], work: trainWork,
                                                    summary: "fine-tune from random weights, seed \(seed), \(options.epochs) epochs on \(train) train examples"))
                }
                let seeds = options.untrainedSeeds
                stages.append(ReproductionStage(id: ReproductionStage.id(.untrained, task), kind: .untrained, task: task, seed: nil, dependencies: [],
                                                work: Double(seeds.count * dev),
                                                summary: "score an untrained classifier on the pre-trained encoder, seeds \(seeds.map(String.init).joined(separator: ",")), \(dev) dev"))
            }
            stages.append(ReproductionStage(id: pretrainedAnalysis, kind: .analyzePretrained, task: task, seed: nil, dependencies: [],
                                            work: Double(analysed),
                                            summary: "special tokens, entropy, pattern types\(options.relations != nil ? ", relations" : "") of the pre-trained model, \(analysed) dev"))
            if fineTuned {
                let model = ReproductionStage.id(.finetunePretrained, task, seed: firstSeed)
                stages.append(ReproductionStage(id: ReproductionStage.id(.analyzeFinetuned, task), kind: .analyzeFinetuned, task: task, seed: firstSeed,
                                                dependencies: [model], work: Double(analysed),
                                                summary: "the same analyses of the fine-tuned model (seed \(firstSeed)), \(analysed) dev"))
                stages.append(ReproductionStage(id: ReproductionStage.id(.compare, task), kind: .compare, task: task, seed: firstSeed,
                                                dependencies: [model], work: Double(2 * analysed),
                                                summary: "per-head cosine of pre-trained and fine-tuned maps, \(analysed) dev"))
                let ablations = layers * heads + layers + 1
                stages.append(ReproductionStage(id: ReproductionStage.id(.ablate, task), kind: .ablate, task: task, seed: firstSeed,
                                                dependencies: [model], work: Double(ablations * dev) * ablationPasses,
                                                summary: "\(layers * heads) heads and \(layers) layers of the fine-tuned model switched off (\(options.ablationMode.rawValue)), \(dev) dev"))
            }
        }
        if let task = tasks.first {
            let name = task.name
            stages.append(ReproductionStage(id: ReproductionStage.id(.viewer, task), kind: .viewer, task: task, seed: firstSeed,
                                            dependencies: [ReproductionStage.id(.finetunePretrained, task, seed: firstSeed), ReproductionStage.id(.ablate, task)],
                                            work: Double(2 * options.viewerExamples),
                                            summary: "attention viewer data, \(options.viewerExamples) \(name) dev examples"))
        }
        let rate = secondsPerBaseExample * Double(parameters) / 110e6
        let estimate = stages.reduce(0) { $0 + $1.work } * rate
        let basis = "\(secondsPerBaseExample) s per example pass of a 110M-parameter model on 2 cores, scaled to this model's \(String(format: "%.1f", Double(parameters) / 1e6))M parameters; a training example counts 3 passes, an ablation's \(ablationPasses); measured with all-MiniLM-L6-v2 on a 2-core AVX-512 machine, within about 50% by the tasks' sentence lengths; another machine differs"
        return ReproductionPlan(stages: stages, tasks: tasks, devOnly: devOnly, missing: missing,
                                estimatedSeconds: estimate, estimateBasis: basis)
    }
}
