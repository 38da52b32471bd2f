import BertologyEngine
import Foundation

/// The learning rate of each optimizer step: transformers' `get_linear_schedule_with_warmup`.
///
/// `warmupSteps = ceil(warmupRatio x totalSteps)` (as `TrainingArguments.get_warmup_steps`). For the
/// update that follows `step` finished updates (0-based, so the first update has `step` 0):
/// - `step < warmupSteps`: `peak x step / max(1, warmupSteps)`: the first update runs at learning rate 0;
/// - afterwards: `peak x max(0, (totalSteps - step) / max(1, totalSteps - warmupSteps))`, down to 0.
///
/// Computed in Double, then rounded to Float once (the trainer takes a Float).
public struct LinearWarmupSchedule: Sendable, Equatable {
    /// The learning rate at the end of warmup.
    public let peak: Double
    /// Optimizer steps of the whole run.
    public let totalSteps: Int
    /// Steps of linear warmup from 0.
    public let warmupSteps: Int

    /// Creates the schedule.
    /// - Parameters:
    ///   - peak: the learning rate reached after warmup.
    ///   - totalSteps: optimizer steps of the run (epochs x steps per epoch).
    ///   - warmupRatio: the fraction of `totalSteps` spent warming up (rounded up).
    public init(peak: Double, totalSteps: Int, warmupRatio: Double) {
        self.peak = peak
        self.totalSteps = totalSteps
        self.warmupSteps = Int((warmupRatio * Double(totalSteps)).rounded(.up))
    }

    /// The learning rate of the update that follows `step` finished updates.
    public func learningRate(afterSteps step: Int) -> Float {
        let factor: Double
        if step < warmupSteps {
            factor = Double(step) / Double(max(1, warmupSteps))
        } else {
            factor = max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
        }
        return Float(peak * factor)
    }
}

/// The order in which an epoch visits the training examples: one seeded shuffle per epoch.
///
/// Epoch `e` (0-based) uses `SeededGenerator(seed: seed &+ (e + 1) &* 0xD1B5_4A32_D192_ED03)`
/// (splitmix64; the multiplier is odd and not splitmix's own increment, so two epochs' streams are not
/// shifted copies of each other) and a Fisher-Yates shuffle of the positions `0..<n`:
/// `for i in n-1 down to 1: j = next() % (i + 1); swap(order[i], order[j])`, the same shuffle as
/// `GLUEDataset.sampled`. The order depends only on (seed, epoch, n): a resumed run recomputes it
/// from the checkpoint's step, so the generator's whole state is the seed and the step.
public enum EpochShuffle {
    /// The generator's seed for epoch `epoch` (0-based) of a run seeded `seed`.
    public static func generatorSeed(seed: UInt64, epoch: Int) -> UInt64 {
        seed &+ UInt64(epoch + 1) &* 0xD1B5_4A32_D192_ED03
    }

    /// The positions of `count` examples in the order epoch `epoch` visits them.
    public static func order(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var order = Array(0..<count)
        var generator = SeededGenerator(seed: generatorSeed(seed: seed, epoch: epoch))
        var i = count - 1
        while i > 0 {
            let j = Int(generator.next() % UInt64(i + 1))
            order.swapAt(i, j)
            i -= 1
        }
        return order
    }
}
