import BertologyEngine
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The folder a run writes its results into, with this process as its only writer.
///
/// Opening it takes an exclusive lock (`WriterLock`, the hidden file ``lockFileName`` inside the folder)
/// before anything in the folder is read or written, and holds it until ``close()`` or until the object
/// goes away; a second process that opens the same folder meanwhile is refused at once with one line
/// naming the holder (pid, host, command, start time). The kernel drops the lock when a process dies,
/// so a killed run leaves no stale lock, and opening removes the temporary files a killed writer left
/// (``AtomicFile/removeLeftovers(in:)``). By default a folder that is not empty is refused unless
/// `force` is set (then files of the same names are replaced and other files are left alone). Every
/// file goes through `AtomicFile`, so a reader never sees half of one.
/// Used from one thread at a time (the command's, or its cancellable task's).
public final class OutputFolder: @unchecked Sendable {
    /// The lock file inside every output folder while a run writes into it (removed when it ends).
    public static let lockFileName = ".bertology-lock"

    /// The folder written into.
    public let url: URL
    /// Whether this run created the folder (it did not exist before).
    public let created: Bool
    /// Names written so far, in order.
    public private(set) var written: [String] = []
    private let lock: WriterLock

    /// Opens `url` for writing, creating it (and its parents) when missing, and locks it.
    /// - Parameters:
    ///   - url: the folder.
    ///   - force: write into an existing non-empty folder, replacing files of the same names.
    /// - Throws: `BertologyError` `.usage` when the folder is not empty and `force` is false; `.io` when
    ///   another process is writing into it, or `url` is a file, or the folder cannot be listed or created.
    public convenience init(_ url: URL, force: Bool) throws {
        try self.init(url, acceptingContents: true)
        try requireEmpty(force: force)
    }

    /// Opens and locks `url` (created when missing) whatever it holds, for a command that decides
    /// itself what earlier contents mean (a resumable run reads its journal); it calls
    /// ``requireEmpty(force:)`` where the usual rule applies.
    /// - Throws: `BertologyError` `.io` when another process is writing into the folder, or `url` is a
    ///   file, or the folder cannot be created.
    public init(_ url: URL, acceptingContents: Bool) throws {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw BertologyError.io(url.path, "exists and is not a folder") }
            created = false
        } else {
            do { try manager.createDirectory(at: url, withIntermediateDirectories: true) } catch {
                throw BertologyError.io(url.path, "cannot create the folder: \(error.localizedDescription)")
            }
            created = true
        }
        self.url = url
        lock = try WriterLock(url.appendingPathComponent(Self.lockFileName), for: url.path)
        // The lock is ours: temporary files of earlier writers are leftovers of a killed run.
        AtomicFile.removeLeftovers(in: url)
    }

    /// What the folder holds besides the lock file.
    /// - Throws: `BertologyError` `.io` when the folder cannot be listed.
    public func contents() throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: url.path).filter { $0 != Self.lockFileName }
        } catch {
            throw BertologyError.io(url.path, "cannot list: \(error.localizedDescription)")
        }
    }

    /// Refuses a folder that holds anything unless `force`.
    /// - Throws: `BertologyError` `.usage` naming the folder and the way on.
    public func requireEmpty(force: Bool) throws {
        let entries = try contents()
        if !entries.isEmpty && !force {
            throw BertologyError.usage("\(url.path) exists and is not empty (\(entries.count) entries); choose another `folder`, or add `force` to write into it")
        }
    }

    /// The URL of the file `name` inside the folder (nothing is created).
    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    /// Writes `data` to the file `name` atomically and records the name in ``written``.
    /// - Throws: `BertologyError` `.io` when the file cannot be written.
    public func write(_ data: Data, to name: String) throws {
        try AtomicFile.write(data, to: file(name))
        if !written.contains(name) { written.append(name) }
    }

    /// Writes `text` as UTF-8 to the file `name` atomically and records the name in ``written``.
    /// - Throws: `BertologyError` `.io` when the file cannot be written.
    public func write(_ text: String, to name: String) throws {
        try write(Data(text.utf8), to: name)
    }

    /// Ends this run's hold on the folder: removes the lock file and releases the lock, so another
    /// run may write here. Also happens when the object goes away, and (the lock, not the file) when
    /// the process ends.
    public func close() { lock.release() }

    /// After an interrupted run: removes the temporary files of this process (`AtomicFile`), and
    /// the folder itself when this run created it and it is empty, so the folder is as it was and
    /// the same command can run again. Files already written are kept. Releases the lock.
    public func discard() {
        let manager = FileManager.default
        let ours = "-\(getpid())-"
        for name in (try? manager.contentsOfDirectory(atPath: url.path)) ?? []
        where name.hasPrefix(AtomicFile.temporaryPrefix) && name.contains(ours) {
            try? manager.removeItem(at: url.appendingPathComponent(name))
        }
        let empty = (try? contents())?.isEmpty == true
        close()
        if created && empty { rmdir(url.path) }
    }
}
