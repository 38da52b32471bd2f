import BertologyEngine
import Foundation

/// The recipe of a fine-tuning run (`bertology finetune`'s options). The defaults are the paper's
/// recipe: BERT's `run_classifier.py` (batch 32, 3 epochs, lr 5e-5, warmup 10%, weight decay 0.01,
/// 128 tokens, seed 42), as docs/FINETUNE.md explains.
public struct FineTuningOptions: Sendable, Equatable {
    /// The GLUE task: its train split is trained on, its dev split scored after each epoch.
    public var task: GLUETask
    /// The `glue_data` folder (`<folder>/MRPC/train.tsv`, ...).
    public var dataFolder: URL
    /// Start from the checkpoint's encoder (`pretrained`) or from random weights of its shape (`random`).
    public var initialization: TrainingInitialization = .pretrained
    /// Passes over the training examples; 0 trains nothing and scores the new random classifier on the encoder.
    public var epochs: Int = 3
    /// The peak learning rate (after warmup).
    public var learningRate: Double = 5e-5
    /// Examples per optimizer step (the last batch of an epoch may be smaller).
    public var batchSize: Int = 32
    /// Truncate each example longest-first to this many tokens, specials included (at most the model's positions).
    public var maxLength: Int = 128
    /// Seeds the classifier's initialisation (every weight with `random`), the dropout masks and the shuffles.
    public var seed: UInt64 = 42
    /// Further seeds for `epochs == 0`: the untrained classifier is scored once per seed and the range reported.
    public var extraSeeds: [UInt64] = []
    /// The fraction of the steps spent warming the learning rate up from 0 (rounded up to whole steps).
    public var warmupRatio: Double = 0.1
    /// AdamW's decoupled weight decay (not applied to biases and LayerNorm weights).
    public var weightDecay: Double = 0.01
    /// Train on a seeded sample of this many training examples (seed 42, whatever `seed` is, so runs
    /// with different seeds see the same examples); nil for all of them.
    public var limit: Int?
    /// Also write a checkpoint every this many steps (one is always written at the end of each epoch).
    public var saveEvery: Int?

    /// The seed of the `limit` sample.
    public static let sampleSeed: UInt64 = 42

    /// Creates options with the paper's defaults for everything but the task and the data.
    /// - Parameters:
    ///   - task: the GLUE task.
    ///   - dataFolder: the `glue_data` folder.
    public init(task: GLUETask, dataFolder: URL) {
        self.task = task
        self.dataFolder = dataFolder
    }

    /// Checks every value's range; errors (usage) name the option in backticks (`epochs`).
    /// - Throws: `BertologyError` `.usage` for a value out of range.
    public func validate() throws {
        func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
            if !condition { throw BertologyError.usage(message()) }
        }
        try require((0...1000).contains(epochs), "`epochs` must be from 0 to 1000 (got \(epochs))")
        try require(learningRate.isFinite && learningRate > 0 && learningRate <= 1,
                    "`learningRate` must be a number above 0 and at most 1 (got \(learningRate)); the paper's is 5e-5")
        try require((1...4096).contains(batchSize), "`batchSize` must be from 1 to 4096 (got \(batchSize))")
        try require(maxLength >= 4, "`maxLength` must be at least 4 (the specials take 2 or 3 tokens; got \(maxLength))")
        try require(warmupRatio.isFinite && (0...1).contains(warmupRatio), "`warmupRatio` must be from 0 to 1 (got \(warmupRatio))")
        try require(weightDecay.isFinite && (0...1).contains(weightDecay), "`weightDecay` must be from 0 to 1 (got \(weightDecay))")
        if let limit { try require(limit >= 1, "`limit` must be at least 1 (got \(limit))") }
        if let saveEvery { try require(saveEvery >= 1, "`saveEvery` must be at least 1 (got \(saveEvery))") }
        try require(extraSeeds.isEmpty || epochs == 0,
                    "`extraSeeds` scores the untrained classifier under several seeds: it goes with `epochs` 0 (train one seed per run otherwise)")
    }

    /// Every seed scored when `epochs == 0`: `seed`, then `extraSeeds`.
    public var seeds: [UInt64] { [seed] + extraSeeds.filter { $0 != seed } }
}

extension TrainingInitialization {
    /// `pretrained` or `random`, as the command line and train.json spell it.
    public var name: String {
        switch self {
        case .pretrained: "pretrained"
        case .random: "random"
        }
    }

    /// Parses `pretrained` or `random`.
    /// - Throws: `BertologyError` `.usage` for anything else.
    public init(parsing text: String) throws {
        switch text.lowercased() {
        case "pretrained", "pre-trained": self = .pretrained
        case "random": self = .random
        default: throw BertologyError.usage("`initialization` must be pretrained or random (got \"\(text)\")")
        }
    }
}
