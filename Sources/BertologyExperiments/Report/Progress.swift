import BertologyEngine
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

/// The one progress bar: drawn on stderr, and only when stderr is a terminal (so logs and pipes
/// stay clean). Redraws at most 10 times a second.
///
/// `BERTOLOGY_PROGRESS=lines` prints plain lines instead, for logs of long runs and for scripts
/// that wait for a run to start (the interrupt test): `bertology: progress: STS-B dev 0/3000`, at
/// the start of each phase, then at most every 10 seconds, and at its end. `BERTOLOGY_PROGRESS=off`
/// prints nothing; `bar` draws the bar even when stderr is not a terminal.
public final class TerminalProgressBar: @unchecked Sendable {
    /// How progress is shown: a redrawn bar, plain lines, or nothing.
    public enum Style: Sendable { case bar, lines, off }

    private let lock = NSLock()
    private let style: Style
    private var lastDraw: TimeInterval = 0
    private var lastPhase: String?
    /// When the current phase started and its count then (a resumed run starts part-way: the rate
    /// and the time left count only the units done since).
    private var phaseStart = Date()
    private var phaseStartCompleted = 0

    /// The style `BERTOLOGY_PROGRESS` asks for, else a bar when stderr is a terminal.
    public static var environmentStyle: Style {
        switch ProcessInfo.processInfo.environment["BERTOLOGY_PROGRESS"]?.lowercased() {
        case "lines": .lines
        case "off": .off
        case "bar": .bar
        default: isatty(STDERR_FILENO) != 0 ? .bar : .off
        }
    }

    /// Creates a bar that draws in `style` (by default what `BERTOLOGY_PROGRESS` asks for).
    public init(style: Style = TerminalProgressBar.environmentStyle) {
        self.style = style
    }

    /// Creates a bar that draws (`true`) or stays silent (`false`).
    public convenience init(enabled: Bool) {
        self.init(style: enabled ? .bar : .off)
    }

    /// A handler that draws on this bar, to pass to long operations.
    public var handler: ProgressHandler { { [self] progress in self.update(progress) } }

    /// Redraws the bar for `progress` (at most 10 times a second, always on a new phase or at the end); thread-safe.
    public func update(_ progress: Progress) {
        guard style != .off else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = Date().timeIntervalSinceReferenceDate
        let finished = progress.completed >= progress.total
        let interval = style == .lines ? 10 : 0.1
        guard finished || progress.phase != lastPhase || now - lastDraw >= interval else { return }
        lastDraw = now
        if progress.phase != lastPhase {
            phaseStart = Date()
            phaseStartCompleted = progress.completed
        }
        lastPhase = progress.phase
        let detail = progress.detail.map { " \($0)" } ?? ""
        if style == .lines {
            FileHandle.standardError.write(Data("bertology: progress: \(progress.phase) \(progress.completed)/\(progress.total)\(detail)\n".utf8))
            return
        }
        let width = 30
        let filled = Int(progress.fraction * Double(width))
        let elapsed = Date().timeIntervalSince(phaseStart)
        let rate = elapsed > 0 ? Double(progress.completed - phaseStartCompleted) / elapsed : 0
        let remaining = rate > 0 ? Double(progress.total - progress.completed) / rate : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = "\r\(progress.phase) [\(bar)] \(progress.completed)/\(progress.total)\(detail)  "
            + "\(Int(elapsed))s elapsed, ~\(Int(remaining))s left \u{1B}[K"  // erase what a longer line left
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Ends the bar's line (call once when the operation is over).
    public func finish() {
        guard style == .bar else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
