import BertologyEngine
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The file under a run's journal (`ablate`'s and `prune`'s): JSON Lines appended one whole line per write, each
/// followed by fsync, so an interruption leaves at most a torn last line, which ``lines(of:)`` marks incomplete.
final class JournalFile {
    let url: URL
    private let descriptor: Int32

    private init(url: URL, descriptor: Int32) {
        self.url = url
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Writes `firstLine` as the whole file (atomically: a journal always has a whole first line) and opens it.
    static func create(at url: URL, firstLine: String) throws -> JournalFile {
        try AtomicFile.write(firstLine + "\n", to: url)
        return try open(url)
    }

    /// Opens an existing journal for appending.
    static func open(_ url: URL) throws -> JournalFile {
        let descriptor = Foundation.open(url.path, O_WRONLY | O_APPEND)
        guard descriptor >= 0 else { throw BertologyError.io(url.path, "cannot open for appending: \(String(cString: strerror(errno)))") }
        return JournalFile(url: url, descriptor: descriptor)
    }

    /// Appends one line (a newline is added): one write of the whole line, then fsync.
    func append(_ line: String) throws {
        let data = Data((line + "\n").utf8)
        let failure: Int32 = data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return fsync(descriptor) == 0 ? 0 : errno
        }
        guard failure == 0 else { throw BertologyError.io(url.path, "cannot append: \(String(cString: strerror(failure)))") }
    }

    /// The file's bytes and its lines: each line's byte range (without the newline) and whether a newline ended it.
    static func lines(of url: URL) throws -> (bytes: [UInt8], lines: [(range: Range<Int>, complete: Bool)]) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw BertologyError.io(url.path, "cannot read: \(error.localizedDescription)")
        }
        let bytes = [UInt8](data)
        var lines: [(range: Range<Int>, complete: Bool)] = []
        var start = 0
        for (offset, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
            lines.append((start..<offset, true))
            start = offset + 1
        }
        if start < bytes.count { lines.append((start..<bytes.count, false)) }
        return (bytes, lines)
    }

    /// Cuts the file to its first `length` bytes (drops a torn last line).
    static func truncate(_ url: URL, to length: Int) throws {
        if Glibc.truncate(url.path, off_t(length)) != 0 {
            throw BertologyError.io(url.path, "cannot drop the torn last line: \(String(cString: strerror(errno)))")
        }
    }
}
