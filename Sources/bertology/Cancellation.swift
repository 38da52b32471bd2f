import Bertology
import Dispatch
import Foundation

/// Runs `work` in a task that SIGINT and SIGTERM cancel: the library checks for cancellation
/// between batches and throws `BertologyError` `.cancelled` (exit status 130), so output files
/// are never left half-written. A second signal exits at once.
func runCancellable<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    let task = Task.detached { try work() }
    let sources = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler {
            if task.isCancelled { exit(130) }
            FileHandle.standardError.write(Data("\nbertology: stopping after the current batch (again to quit now)\n".utf8))
            task.cancel()
        }
        source.resume()
        return source
    }
    defer {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
    return try await task.value
}
