import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How far a long operation has come: `completed` of `total` units (examples, ablations) in `phase`.
public struct Progress: Sendable, Equatable {
    /// What is being done, for example "SST-2 dev" or "relations"; a new phase restarts the count.
    public var phase: String
    /// Units done so far in this phase.
    public var completed: Int
    /// Units in this phase.
    public var total: Int

    /// Creates a progress report.
    /// - Parameters:
    ///   - phase: what is being done.
    ///   - completed: units done so far.
    ///   - total: units in the phase.
    public init(phase: String, completed: Int, total: Int) {
        self.phase = phase
        self.completed = completed
        self.total = total
    }

    /// `completed / total`, clamped to 0-1; 0 when `total` is 0.
    public var fraction: Double { total > 0 ? min(1, Double(completed) / Double(total)) : 0 }
}

/// Receives progress from long operations (evaluation, analyses, sweeps). Called on the thread
/// doing the work, often: keep it cheap.
public typealias ProgressHandler = @Sendable (Progress) -> Void

/// The one progress bar: drawn on stderr, and only when stderr is a terminal (so logs and pipes
/// stay clean). Redraws at most 10 times a second.
public final class TerminalProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private let enabled: Bool
    private var lastDraw: TimeInterval = 0
    private var lastPhase = ""
    private let start = Date()

    /// Creates a bar.
    /// - Parameter enabled: whether to draw; by default only when stderr is a terminal.
    public init(enabled: Bool = isatty(STDERR_FILENO) != 0) {
        self.enabled = enabled
    }

    /// A handler that draws on this bar, to pass to long operations.
    public var handler: ProgressHandler { { [self] progress in self.update(progress) } }

    /// Redraws the bar for `progress` (at most 10 times a second, always on a new phase or at the end); thread-safe.
    public func update(_ progress: Progress) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = Date().timeIntervalSinceReferenceDate
        let finished = progress.completed >= progress.total
        guard finished || progress.phase != lastPhase || now - lastDraw >= 0.1 else { return }
        lastDraw = now
        lastPhase = progress.phase
        let width = 30
        let filled = Int(progress.fraction * Double(width))
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(progress.completed) / elapsed : 0
        let remaining = rate > 0 ? Double(progress.total - progress.completed) / rate : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = "\r\(progress.phase) [\(bar)] \(progress.completed)/\(progress.total)  "
            + "\(Int(elapsed))s elapsed, ~\(Int(remaining))s left "
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Ends the bar's line (call once when the operation is over).
    public func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
