import Bertology
import Dispatch
import Foundation

/// What a command leaves behind when SIGINT or SIGTERM stops it, and how to go on: the hook each
/// writing command gives `runCancellable`. `cleanup` removes what the command started (temporary
/// files, a folder it created and left empty); `advice` is the end of the one stderr line, true for
/// that command (`nothing was written; rerun the same command`, or a resume command).
struct Interruption: Sendable {
    var cleanup: @Sendable () -> Void = {}
    var advice: @Sendable () -> String

    /// For commands that write nothing before the end (eval, analyze): stopping loses nothing on disk.
    static let nothingWritten = Interruption(advice: { "nothing was written; rerun the same command to start again" })
}

/// Runs `work` in a task that SIGINT and SIGTERM cancel: the library checks for cancellation
/// between batches and throws `BertologyError` `.cancelled` (exit status 130), so output files
/// are never left half-written. The error's line ends with `interruption.advice()`. A second signal
/// exits at once (status 130), after `interruption.cleanup()`.
func runCancellable<T: Sendable>(_ interruption: Interruption,
                                 _ work: @escaping @Sendable () throws -> T) async throws -> T {
    // The handlers are installed before the work starts, so a signal in its first moments is
    // caught too (it then cancels the task as soon as the task exists).
    let box = CancellationBox()
    let sources = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler {
            if box.requestCancel() {
                interruption.cleanup()
                say("bertology: interrupted (second signal): \(interruption.advice())")
                exit(130)
            }
            say("\nbertology: stopping after the current batch (again to quit now)")
        }
        source.resume()
        return source
    }
    let task = Task.detached { try work() }
    box.attach(task)
    defer { for source in sources { source.cancel() } }
    do {
        let value = try await task.value
        restoreDefaultSignals()
        return value
    } catch let error as BertologyError where error.kind == .cancelled {
        // The process is about to exit 130 with the advice: SIGINT and SIGTERM stay ignored until then, so a
        // second signal sent after the run already stopped cannot kill it before that line is written.
        interruption.cleanup()
        throw BertologyError(.cancelled, "interrupted: \(error.reason); \(interruption.advice())")
    } catch {
        restoreDefaultSignals()
        throw error
    }
}

private func restoreDefaultSignals() {
    signal(SIGINT, SIG_DFL)
    signal(SIGTERM, SIG_DFL)
}

/// Throws `.cancelled` when SIGINT/SIGTERM arrived after the last batch: called just before a
/// command writes its results, so an interrupted run writes nothing rather than finishing quietly.
func checkNotCancelled(_ what: String) throws {
    if Task.isCancelled { throw BertologyError(.cancelled, "\(what) stopped before writing its results") }
}

/// The task a signal cancels, and whether a signal came before: shared by the signal handlers
/// (on a dispatch queue) and `runCancellable`.
private final class CancellationBox: @unchecked Sendable {
    private let lock = NSLock()
    private var cancel: (@Sendable () -> Void)?
    private var requested = false

    /// Records a signal and cancels the task if it exists; returns true when one came before.
    func requestCancel() -> Bool {
        lock.lock()
        let again = requested
        requested = true
        let cancel = self.cancel
        lock.unlock()
        cancel?()
        return again
    }

    /// Gives the task to cancel; cancels it at once when a signal already came.
    func attach<T>(_ task: Task<T, any Error>) {
        lock.lock()
        cancel = { task.cancel() }
        let already = requested
        lock.unlock()
        if already { task.cancel() }
    }
}
