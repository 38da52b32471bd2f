import Bertology
import Foundation

/// A single output file a command writes at the end (`eval --predictions FILE`, `inspect --npy FILE`),
/// checked before the run: an existing file is not replaced without `force`, a folder or a missing
/// parent folder fails at once rather than after an hour of work. Like an `OutputFolder`, it has one
/// writer: the hidden lock file `.NAME.bertology-lock` beside it is held from the check until the
/// value goes away (or ``close()``), so two runs writing the same file refuse each other.
final class OutputFile: @unchecked Sendable {
    /// The file to write.
    let url: URL
    private let lock: WriterLock

    private init(url: URL, lock: WriterLock) {
        self.url = url
        self.lock = lock
    }

    /// Locks and checks `path` for writing later.
    /// - Parameters:
    ///   - option: the option that named the file, for messages (`--predictions`).
    ///   - force: replace an existing file.
    /// - Throws: `BertologyError` `.usage` when the file exists and `force` is false; `.io` when it is a
    ///   folder, its folder does not exist, or another run is writing it.
    static func check(_ path: String, option: String, force: Bool) throws -> OutputFile {
        let url = URL(fileURLWithPath: path)
        let manager = FileManager.default
        let parent = url.deletingLastPathComponent()
        var parentIsDirectory: ObjCBool = false
        guard manager.fileExists(atPath: parent.path, isDirectory: &parentIsDirectory), parentIsDirectory.boolValue else {
            throw BertologyError.io(path, "cannot write: the folder \(parent.path) does not exist")
        }
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw BertologyError.io(path, "is a folder (\(option) names a file)")
        }
        let lock = try WriterLock(parent.appendingPathComponent(".\(url.lastPathComponent).bertology-lock"), for: path)
        if manager.fileExists(atPath: path) && !force {
            throw BertologyError.usage("\(path) exists; choose another \(option) file, or add --force to replace it")
        }
        return OutputFile(url: url, lock: lock)
    }

    /// Releases the file for other runs (also done when the value goes away).
    func close() { lock.release() }
}
