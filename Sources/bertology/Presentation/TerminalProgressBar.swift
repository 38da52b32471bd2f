import Bertology
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one progress bar: drawn on stderr, and only when stderr is a terminal (so logs and pipes
/// stay clean). Redraws at most 10 times a second.
///
/// `BERTOLOGY_PROGRESS=lines` prints plain lines instead, for logs of long runs and for scripts
/// that wait for a run to start (the interrupt test): `bertology: progress: STS-B dev 0/3000`, at
/// the start of each phase, then at most every 10 seconds, and at its end. `BERTOLOGY_PROGRESS=off`
/// prints nothing; `bar` draws the bar even when stderr is not a terminal.
final class TerminalProgressBar: @unchecked Sendable {
    /// How progress is shown: a redrawn bar, plain lines, or nothing.
    enum Style: Sendable { case bar, lines, off }

    private let lock = NSLock()
    private let style: Style
    private var lastDraw: TimeInterval = 0
    private var lastPhase: String?
    /// When the current phase started and its count then (a resumed run starts part-way: the rate
    /// and the time left count only the units done since).
    private var phaseStart = Date()
    private var phaseStartCompleted = 0
    /// Whether the bar is drawn on the current line (a message clears it first).
    private var barShown = false

    /// The style `BERTOLOGY_PROGRESS` asks for, else a bar when stderr is a terminal.
    static var environmentStyle: Style {
        switch ProcessInfo.processInfo.environment["BERTOLOGY_PROGRESS"]?.lowercased() {
        case "lines": .lines
        case "off": .off
        case "bar": .bar
        default: isatty(STDERR_FILENO) != 0 ? .bar : .off
        }
    }

    /// Creates a bar that draws in `style` (by default what `BERTOLOGY_PROGRESS` asks for).
    init(style: Style = TerminalProgressBar.environmentStyle) {
        self.style = style
    }

    /// Creates a bar that draws (`true`) or stays silent (`false`).
    convenience init(enabled: Bool) {
        self.init(style: enabled ? .bar : .off)
    }

    /// A handler that draws on this bar, to pass to long operations.
    var handler: ProgressHandler { { [self] progress in self.update(progress) } }

    /// Redraws the bar for `progress` (at most 10 times a second, always on a new phase or at the end); thread-safe.
    func update(_ progress: Bertology.Progress) {
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
        barShown = true
    }

    /// Writes one line of text on stderr (a command's own messages between phases): over the bar
    /// when one is drawn, which the next update draws again below it.
    func message(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        FileHandle.standardError.write(Data(((barShown ? "\r\u{1B}[K" : "") + text + "\n").utf8))
        barShown = false
    }

    /// Ends the bar's line (call once when the operation is over).
    func finish() {
        guard style == .bar else { return }
        lock.lock()
        barShown = false
        lock.unlock()
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
