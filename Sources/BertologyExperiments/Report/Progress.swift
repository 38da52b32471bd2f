import BertologyEngine
import Foundation

/// How far a long operation has come: `completed` of `total` units (examples, ablations) in `phase`.
public struct Progress: Sendable, Equatable {
    /// What is being done, for example "SST-2 dev" or "relations"; a new phase restarts the count.
    public var phase: String
    /// Units done so far in this phase.
    public var completed: Int
    /// Units in this phase.
    public var total: Int
    /// What else is worth showing beside the count, for example fine-tuning's
    /// `epoch 1/3, loss 0.6931, lr 2.5e-05, 41.2 examples/s`; nil for nothing. Changing it is not a new phase.
    public var detail: String?

    /// Creates a progress report.
    /// - Parameters:
    ///   - phase: what is being done.
    ///   - completed: units done so far.
    ///   - total: units in the phase.
    ///   - detail: shown beside the count; nil for nothing.
    public init(phase: String, completed: Int, total: Int, detail: String? = nil) {
        self.phase = phase
        self.completed = completed
        self.total = total
        self.detail = detail
    }

    /// `completed / total`, clamped to 0-1; 0 when `total` is 0.
    public var fraction: Double { total > 0 ? min(1, Double(completed) / Double(total)) : 0 }
}

/// Receives progress from long operations (evaluation, analyses, sweeps). Called on the thread
/// doing the work, often: keep it cheap.
public typealias ProgressHandler = @Sendable (Progress) -> Void
