import BertologyEngine
import Foundation

/// The recipe of a run as train.json and the checkpoint record it: everything that decides the
/// result. Resuming refuses a checkpoint whose recipe differs.
public struct FineTuningRecipe: Sendable, Codable, Equatable {
    /// The GLUE task.
    public let task: GLUETask
    /// The checkpoint folder the encoder (and its shape, vocabulary and tokenizer) came from.
    public let model: String
    /// `pretrained` or `random`.
    public let initialization: String
    /// Passes over the training examples.
    public let epochs: Int
    /// The peak learning rate.
    public let learningRate: Double
    /// Examples per step.
    public let batchSize: Int
    /// Truncation length in tokens, specials included (after clamping to the model's positions).
    public let maxLength: Int
    /// The run's seed (classifier initialisation, dropout, shuffles).
    public let seed: UInt64
    /// The fraction of steps spent warming up.
    public let warmupRatio: Double
    /// AdamW's decoupled weight decay.
    public let weightDecay: Double
    /// AdamW's other settings and the gradient clipping, as the trainer ran them.
    public let adamBeta1: Double, adamBeta2: Double, adamEpsilon: Double, maxGradNorm: Double
    /// The sample size; nil for every training example.
    public let limit: Int?
    /// Steps between checkpoints; nil when checkpoints are written at epoch ends only.
    public let saveEvery: Int?
    /// Optimizer steps per epoch (`ceil(examples / batch size)`, the last batch smaller).
    public let stepsPerEpoch: Int
    /// Steps of the whole run.
    public let totalSteps: Int
    /// `ceil(warmup ratio x total steps)`.
    public let warmupSteps: Int
    /// How the learning rate moves, in words.
    public let schedule: String
    /// How each epoch orders the examples, in words.
    public let shuffle: String
    /// The training file and how many of its examples were used.
    public let trainFile: String, trainExamples: Int, trainPopulation: Int
    /// The dev file scored after each epoch.
    public let devFile: String, devExamples: Int
    /// The task label each classifier output predicts (config.json id2label); empty for STS-B (one regression output).
    public let labels: [String]

    enum CodingKeys: String, CodingKey {
        case task, model, initialization, epochs, seed, limit, schedule, shuffle, labels
        case learningRate = "learning_rate", batchSize = "batch_size", maxLength = "max_length"
        case warmupRatio = "warmup_ratio", weightDecay = "weight_decay"
        case adamBeta1 = "adam_beta1", adamBeta2 = "adam_beta2", adamEpsilon = "adam_epsilon", maxGradNorm = "max_grad_norm"
        case saveEvery = "save_every", stepsPerEpoch = "steps_per_epoch", totalSteps = "total_steps", warmupSteps = "warmup_steps"
        case trainFile = "train_file", trainExamples = "train_examples", trainPopulation = "train_population"
        case devFile = "dev_file", devExamples = "dev_examples"
    }
}

/// One optimizer step, as train.csv records it.
public struct FineTuningStep: Sendable, Equatable {
    /// 1-based step number.
    public let step: Int
    /// 1-based epoch.
    public let epoch: Int
    /// The batch's mean loss (cross-entropy, or MSE for STS-B), before the update.
    public let loss: Double
    /// The learning rate of the update.
    public let learningRate: Float
    /// The gradients' global L2 norm before clipping.
    public let gradNorm: Double

    /// The CSV header of train.csv.
    public static let csvHeader = "step,epoch,loss,learning_rate,grad_norm"

    /// One CSV row; numbers in Swift's shortest round-trip form, so a row read back is the same value.
    public var csvRow: String { "\(step),\(epoch),\(loss),\(learningRate),\(gradNorm)" }

    /// Parses a row written by `csvRow`; nil when it is not one.
    public init?(csvRow row: Substring) {
        let fields = row.split(separator: ",", omittingEmptySubsequences: false)
        guard fields.count == 5, let step = Int(fields[0]), let epoch = Int(fields[1]), let loss = Double(fields[2]),
              let learningRate = Float(fields[3]), let gradNorm = Double(fields[4]) else { return nil }
        self.init(step: step, epoch: epoch, loss: loss, learningRate: learningRate, gradNorm: gradNorm)
    }

    /// Creates a record.
    public init(step: Int, epoch: Int, loss: Double, learningRate: Float, gradNorm: Double) {
        self.step = step
        self.epoch = epoch
        self.loss = loss
        self.learningRate = learningRate
        self.gradNorm = gradNorm
    }
}

/// One finished epoch: its mean training loss and the dev metrics after it.
public struct FineTuningEpoch: Sendable, Codable, Equatable {
    /// 1-based epoch.
    public let epoch: Int
    /// The step count at its end.
    public let step: Int
    /// The mean of its steps' losses.
    public let meanLoss: Double
    /// The dev metrics after it, by `GLUEMetric` name.
    public let dev: [String: Double]

    enum CodingKeys: String, CodingKey {
        case epoch, step, dev
        case meanLoss = "mean_loss"
    }
}

/// The untrained classifier's dev score under one seed (0 epochs).
public struct FineTuningSeedScore: Sendable, Codable, Equatable {
    /// The seed of the classifier's initialisation.
    public let seed: UInt64
    /// Dev metrics by name.
    public let dev: [String: Double]
}

/// The spread of one metric over seeds.
public struct FineTuningRange: Sendable, Codable, Equatable {
    /// Lowest, highest, mean and sample standard deviation (0 for one seed).
    public let min: Double, max: Double, mean: Double, sd: Double

    init(_ values: [Double]) {
        min = values.min() ?? .nan
        max = values.max() ?? .nan
        mean = values.reduce(0, +) / Double(values.count)
        let m = mean
        sd = values.count > 1 ? (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot() : 0
    }
}

/// train.json: the recipe, each epoch's mean loss and dev metrics, the final dev metrics; with
/// `epochs == 0`, each seed's untrained score and their range. No wall times (they are in
/// timing.json), so the same run gives the same bytes, also when it was interrupted and resumed.
public struct FineTuningReport: Sendable, Codable, Equatable {
    /// What was run.
    public let recipe: FineTuningRecipe
    /// Finished epochs, in order.
    public let epochs: [FineTuningEpoch]
    /// The dev metrics of the saved model (after the last epoch, or untrained with 0 epochs).
    public let dev: [String: Double]
    /// The metric a table shows first.
    public let headlineMetric: String
    /// 0 epochs: each seed's score (the saved model is the first seed's).
    public let untrained: [FineTuningSeedScore]?
    /// 0 epochs: each metric's range over the seeds.
    public let untrainedRange: [String: FineTuningRange]?
    /// Steps taken.
    public let steps: Int
    /// Format tag of this file.
    public var format = "bertology-finetune/1"

    enum CodingKeys: String, CodingKey {
        case recipe, epochs, dev, untrained, steps, format
        case headlineMetric = "headline_metric", untrainedRange = "untrained_range"
    }

    /// The headline metric's final value.
    public var headlineValue: Double? { dev[headlineMetric] }
}

/// timing.json: the wall times and speeds of the run (of this process: after a resume, the part it ran).
public struct FineTuningTiming: Sendable, Codable, Equatable {
    /// Per epoch this process finished: training seconds, examples/s, dev-evaluation seconds.
    public struct Epoch: Sendable, Codable, Equatable {
        public let epoch: Int
        public let trainSeconds: Double
        public let examplesPerSecond: Double
        public let devSeconds: Double
        enum CodingKeys: String, CodingKey {
            case epoch
            case trainSeconds = "train_seconds", examplesPerSecond = "examples_per_second", devSeconds = "dev_seconds"
        }
    }
    /// The step this process started from (0 unless resumed).
    public let startStep: Int
    /// Training examples this process stepped through.
    public let trainExamples: Int
    /// Seconds in training steps (forward, backward, update), dev evaluation and checkpoints excluded.
    public let trainSeconds: Double
    /// `trainExamples / trainSeconds`.
    public let examplesPerSecond: Double
    /// Seconds of the whole run in this process, loading excluded.
    public let totalSeconds: Double
    /// Per epoch.
    public let epochs: [Epoch]

    enum CodingKeys: String, CodingKey {
        case epochs
        case startStep = "start_step", trainExamples = "train_examples", trainSeconds = "train_seconds"
        case examplesPerSecond = "examples_per_second", totalSeconds = "total_seconds"
    }
}
