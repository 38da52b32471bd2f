import Bertology
import Foundation

/// The one way a command opens the folder it writes into (`analyze`, `ablate`, `merge`, and the
/// commands to come): the folder is locked before anything in it is read or written, so a second run
/// on the same `--out` is refused at once with the holder's pid, host, command and start time (exit 1);
/// `force` decides about earlier contents (a resumable command passes `acceptingContents` and decides
/// itself); files go through `OutputFolder`'s atomic writes; and the lock ends with the command.
/// When `body` fails, or an interruption (`runCancellable`) stops it, a folder this run created and
/// left empty is removed again, so nothing is left behind and the same command can simply be rerun.
func withOutputFolder<T>(_ path: String, force: Bool, acceptingContents: Bool = false,
                         _ body: (OutputFolder) async throws -> T) async throws -> T {
    let folder = acceptingContents ? try OutputFolder(URL(fileURLWithPath: path), acceptingContents: true)
                                   : try OutputFolder(URL(fileURLWithPath: path), force: force)
    do {
        let result = try await body(folder)
        folder.close()
        return result
    } catch {
        folder.discard()
        throw error
    }
}

extension Interruption {
    /// What an interruption of a command writing into `folder` does: `discard` (temporary files of
    /// this process, the folder when this run created it and it is still empty, the lock), then the advice.
    static func writing(into folder: OutputFolder, advice: @escaping @Sendable () -> String) -> Interruption {
        Interruption(cleanup: { folder.discard() }, advice: advice)
    }
}
