import BertologyEngine
import Foundation

/// The folder a run writes its results into. It refuses to write into an existing folder that is
/// not empty unless `force` is set (then files of the same names are replaced and other files are
/// left alone). Every file goes through `AtomicFile`, so a reader never sees half of one.
/// Used from one thread at a time (the command's, or its cancellable task's).
public final class OutputFolder: @unchecked Sendable {
    /// The folder written into.
    public let url: URL
    /// Whether this run created the folder (it did not exist before).
    public let created: Bool
    /// Names written so far, in order.
    public private(set) var written: [String] = []

    /// Opens `url` for writing, creating it (and its parents) when missing.
    /// - Parameters:
    ///   - url: the folder.
    ///   - force: write into an existing non-empty folder, replacing files of the same names.
    /// - Throws: `BertologyError` `.usage` when the folder is not empty and `force` is false; `.io` when
    ///   `url` is a file or the folder cannot be listed or created.
    public init(_ url: URL, force: Bool) throws {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw BertologyError.io(url.path, "exists and is not a folder") }
            let entries: [String]
            do { entries = try manager.contentsOfDirectory(atPath: url.path) } catch {
                throw BertologyError.io(url.path, "cannot list: \(error.localizedDescription)")
            }
            if !entries.isEmpty && !force {
                throw BertologyError.usage("\(url.path) exists and is not empty (\(entries.count) entries); choose another --out folder, or add --force to write into it")
            }
            created = false
        } else {
            do { try manager.createDirectory(at: url, withIntermediateDirectories: true) } catch {
                throw BertologyError.io(url.path, "cannot create the folder: \(error.localizedDescription)")
            }
            created = true
        }
        self.url = url
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

    /// After an interrupted run: removes the temporary files of this process (`AtomicFile`), and
    /// the folder itself when this run created it and it is empty, so the folder is as it was and
    /// the same command can run again. Files already written are kept.
    public func discard() {
        let manager = FileManager.default
        let ours = "-\(getpid())-"
        for name in (try? manager.contentsOfDirectory(atPath: url.path)) ?? []
        where name.hasPrefix(AtomicFile.temporaryPrefix) && name.contains(ours) {
            try? manager.removeItem(at: url.appendingPathComponent(name))
        }
        if created, (try? manager.contentsOfDirectory(atPath: url.path))?.isEmpty == true {
            try? manager.removeItem(at: url)
        }
    }
}

/// A single output file a command writes at the end (`eval --predictions FILE`, `inspect --npy FILE`),
/// checked before the run: an existing file is not replaced without `force`, a folder or a missing
/// parent folder fails at once rather than after an hour of work.
public enum OutputFile {
    public static func check(_ path: String, option: String, force: Bool) throws -> URL {
        let url = URL(fileURLWithPath: path)
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { throw BertologyError.io(path, "is a folder (\(option) names a file)") }
            if !force {
                throw BertologyError.usage("\(path) exists; choose another \(option) file, or add --force to replace it")
            }
        } else {
            let parent = url.deletingLastPathComponent()
            var parentIsDirectory: ObjCBool = false
            guard manager.fileExists(atPath: parent.path, isDirectory: &parentIsDirectory), parentIsDirectory.boolValue else {
                throw BertologyError.io(path, "cannot write: the folder \(parent.path) does not exist")
            }
        }
        return url
    }
}
