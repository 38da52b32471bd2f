import BertologyEngine
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive, advisory lock that makes one process the only writer of an output folder (or of one
/// output file): `flock(LOCK_EX | LOCK_NB)` on a small lock file, which the kernel releases when the
/// process ends in any way (exit, crash, SIGKILL), so a killed run never leaves a stale lock.
///
/// The lock file holds one JSON line naming the holder (pid, host, command line, start time), so a
/// second process can say who has the folder. When the holder finishes normally it removes the file
/// while still holding the lock; a process that opened the old file just before and locks it after
/// sees that the path no longer names the file it locked, and tries again on the new one.
///
/// On a shared filesystem the lock is only as good as the filesystem's `flock`: local disks and NFSv4
/// carry it between machines; Lustre does only when mounted with `-o flock` (`localflock` makes it
/// node-local); some NFSv3 setups lock per client only. docs/RELIABILITY.md says what to do on a cluster.
package final class WriterLock: @unchecked Sendable {
    /// The holder a refused process reports.
    struct Holder: Codable, Equatable, Sendable {
        let pid: Int32
        let host: String
        let command: String
        /// ISO 8601, UTC.
        let started: String

        static var current: Holder {
            var name = [CChar](repeating: 0, count: 256)
            let host = gethostname(&name, name.count - 1) == 0
                ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown host"
            let formatter = ISO8601DateFormatter()
            formatter.timeZone = TimeZone(identifier: "UTC")
            return Holder(pid: getpid(), host: host, command: CommandLine.arguments.joined(separator: " "),
                          started: formatter.string(from: Date()))
        }

        var description: String { "pid \(pid) on \(host), started \(started): \(command)" }
    }

    /// The lock file.
    let url: URL
    private var released = false

    /// Locks held by this process, by lock-file path: descriptor and the number of `WriterLock`s sharing
    /// it. Within one process the lock is shared (as POSIX record locks are per process): the code of
    /// one run may open its folder more than once (a sweep, then its report), while `flock` alone would
    /// refuse a second descriptor of the same process.
    nonisolated(unsafe) private static var held: [String: (descriptor: Int32, count: Int)] = [:]
    private static let heldLock = NSLock()

    /// Takes the lock on `url` (created when missing) or throws at once, naming the holder; shares it
    /// when this process already holds it.
    /// - Parameter what: what is being locked, for the message (the folder or file the user named).
    /// - Throws: `BertologyError` `.io` when another process holds it ("... in use by another run ..."),
    ///   or the lock file cannot be created.
    package init(_ url: URL, for what: String) throws {
        self.url = url.standardizedFileURL
        Self.heldLock.lock()
        defer { Self.heldLock.unlock() }
        if let entry = Self.held[self.url.path] {
            Self.held[self.url.path] = (entry.descriptor, entry.count + 1)
            return
        }
        let descriptor = try Self.acquire(self.url, for: what)
        Self.held[self.url.path] = (descriptor, 1)
    }

    private static func acquire(_ url: URL, for what: String) throws -> Int32 {
        var descriptor: Int32 = -1
        // A few tries only for the remove-while-opening race described above; a held lock fails at once.
        for _ in 0..<8 {
            let fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw BertologyError.io(url.path, "cannot create the lock file: \(String(cString: strerror(errno)))")
            }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let reason = errno
                close(fd)
                guard reason == EWOULDBLOCK else {
                    throw BertologyError.io(url.path, "cannot lock: \(String(cString: strerror(reason)))")
                }
                let holder = Self.readHolder(url).map(\.description) ?? "a process that is still starting"
                throw BertologyError.io(what, "in use by another run (\(holder)); wait for it to end or stop it, then run again (only one run may write here at a time)")
            }
            var opened = stat(), named = stat()
            if fstat(fd, &opened) == 0, stat(url.path, &named) == 0, opened.st_ino == named.st_ino, opened.st_dev == named.st_dev {
                descriptor = fd
                break
            }
            close(fd)  // the holder removed the file between our open and our lock: try the new one
        }
        guard descriptor >= 0 else { throw BertologyError.io(url.path, "cannot lock: the lock file keeps being replaced") }
        writeHolder(descriptor)
        return descriptor
    }

    deinit { release() }

    /// Gives up this hold; the last one in the process removes the lock file and releases the lock
    /// (also done when the object goes away; the kernel releases the lock when the process ends).
    package func release() {
        Self.heldLock.lock()
        defer { Self.heldLock.unlock() }
        guard !released, let entry = Self.held[url.path] else { return }
        released = true
        if entry.count > 1 {
            Self.held[url.path] = (entry.descriptor, entry.count - 1)
            return
        }
        Self.held[url.path] = nil
        unlink(url.path)
        close(entry.descriptor)
    }

    private static func writeHolder(_ descriptor: Int32) {
        guard let line = try? JSONOutput.line(Holder.current) else { return }
        let bytes = Array((line + "\n").utf8)
        _ = ftruncate(descriptor, 0)
        _ = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    /// The holder named in the lock file; the holder writes it right after taking the lock, so a
    /// reader that comes in between waits a moment for it.
    private static func readHolder(_ url: URL) -> Holder? {
        for attempt in 0..<20 {
            if let data = try? Data(contentsOf: url), let holder = try? JSONDecoder().decode(Holder.self, from: data) {
                return holder
            }
            if attempt < 19 { usleep(10_000) }
        }
        return nil
    }
}
