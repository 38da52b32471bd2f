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
        guard failure == 0, rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(failure != 0 ? failure : errno))
            unlink(temporary.path)
            throw BertologyError.io(url.path, "cannot write: \(reason)")
        }
    }

    /// Writes `text` as UTF-8 to `url` atomically.
    /// - Throws: `BertologyError` `.io` when the file cannot be written.
    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }
}
