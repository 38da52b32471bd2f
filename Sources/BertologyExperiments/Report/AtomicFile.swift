import BertologyEngine
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes files so that a reader (or a crash, or Ctrl-C) never sees half of one: the bytes go to a
/// temporary name in the same folder, are flushed, then renamed over the target in one step.
public enum AtomicFile {
    /// Prefix of temporary files; a folder scan can recognise and remove leftovers.
    public static let temporaryPrefix = ".bertology-tmp-"

    /// Writes `data` to `url` through a temporary file in the same folder, flushed and renamed over `url`.
    /// - Throws: `BertologyError` `.io` when the temporary file cannot be created, written or renamed (it is removed).
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { append in try data.withUnsafeBytes { try append($0) } }
    }

    /// Writes the bytes `body` hands to its `append` function, in order, to `url` atomically: for
    /// files too large to hold twice in memory (a checkpoint's optimizer state), which are streamed
    /// to the temporary file, flushed and renamed over `url` as ``write(_:to:)-(Data,_)`` does.
    /// - Throws: `BertologyError` `.io` when the file cannot be created, written or renamed (the
    ///   temporary file is removed), or what `body` throws.
    public static func write(to url: URL, _ body: (_ append: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let folder = url.deletingLastPathComponent()
        let temporary = folder.appendingPathComponent("\(temporaryPrefix)\(url.lastPathComponent)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard descriptor >= 0 else {
            throw BertologyError.io(url.path, "cannot write: \(String(cString: strerror(errno)))")
        }
        var failure: Int32 = 0
        do {
            try body { raw in
                var offset = 0
                while offset < raw.count {
                    let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw BertologyError.io(url.path, "cannot write: \(String(cString: strerror(errno)))")
                    }
                    offset += written
                }
            }
        } catch {
            close(descriptor)
            unlink(temporary.path)
            throw error
        }
        if fsync(descriptor) != 0 { failure = errno }
        close(descriptor)
        let number = CrashPoints.shared.beforeRename()
        guard failure == 0, rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(failure != 0 ? failure : errno))
            unlink(temporary.path)
            throw BertologyError.io(url.path, "cannot write: \(reason)")
        }
        CrashPoints.shared.afterRename(number, url)
    }

    /// Removes the temporary files that writers which are gone left in `folder` (a process killed
    /// between writing a file's bytes and its rename): those whose process id (in the name) is neither
    /// this process nor a live process on this host. Called by a writer that holds the folder's lock
    /// (`OutputFolder`), so that a resumed run's folder holds what an uninterrupted run's does.
    public static func removeLeftovers(in folder: URL) {
        let manager = FileManager.default
        for name in (try? manager.contentsOfDirectory(atPath: folder.path)) ?? [] where name.hasPrefix(temporaryPrefix) {
            // .bertology-tmp-<target>-<pid>-<random>: the pid is the second field from the end.
            let fields = name.split(separator: "-")
            guard fields.count >= 3, let pid = pid_t(fields[fields.count - 2]), pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno != ESRCH { continue }
            try? manager.removeItem(at: folder.appendingPathComponent(name))
        }
    }

    /// Writes `text` as UTF-8 to `url` atomically.
    /// - Throws: `BertologyError` `.io` when the file cannot be written.
    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }
}

/// Fault injection for the crash tests (`tools/reproduce-kill-check`): the process kills itself
/// with SIGKILL at a chosen atomic write, so a test can stop a run at an exact point (half a
/// checkpoint written, the report half written) and check that `--resume` ends with the same bytes.
/// Read once from the environment; without these variables nothing happens beyond one counter.
///
/// - `BERTOLOGY_WRITE_TRACE=FILE`: appends `N<TAB>path` to FILE for each file in place (N counts this
///   process's atomic writes from 1), so a test knows which writes a run makes.
/// - `BERTOLOGY_CRASH_IN_WRITE=N`: SIGKILL once write N's bytes are flushed to its temporary file,
///   before the rename (the target keeps its old bytes or stays absent; a temporary file is left).
/// - `BERTOLOGY_CRASH_AFTER_WRITE=N`: SIGKILL right after write N's rename.
final class CrashPoints: @unchecked Sendable {
    static let shared = CrashPoints()
    private let lock = NSLock()
    private var count = 0
    private let trace: Int32
    private let inWrite: Int?
    private let afterWrite: Int?
    private let active: Bool

    private init() {
        let environment = ProcessInfo.processInfo.environment
        inWrite = environment["BERTOLOGY_CRASH_IN_WRITE"].flatMap { Int($0) }
        afterWrite = environment["BERTOLOGY_CRASH_AFTER_WRITE"].flatMap { Int($0) }
        trace = environment["BERTOLOGY_WRITE_TRACE"].map { open($0, O_WRONLY | O_CREAT | O_APPEND, 0o644) } ?? -1
        active = inWrite != nil || afterWrite != nil || trace >= 0
    }

    /// Numbers this write; kills the process when it is `BERTOLOGY_CRASH_IN_WRITE`.
    func beforeRename() -> Int {
        guard active else { return 0 }
        lock.lock()
        count += 1
        let number = count
        lock.unlock()
        if number == inWrite { kill(getpid(), SIGKILL) }
        return number
    }

    /// Traces write `number`; kills the process when it is `BERTOLOGY_CRASH_AFTER_WRITE`.
    func afterRename(_ number: Int, _ url: URL) {
        guard active else { return }
        if trace >= 0 {
            let line = "\(number)\t\(url.path)\n"
            _ = line.withCString { Glibc.write(trace, $0, strlen($0)) }
        }
        if number == afterWrite { kill(getpid(), SIGKILL) }
    }
}
