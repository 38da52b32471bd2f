import Foundation
#if canImport(Glibc)
import Glibc
private let systemRead = Glibc.read
#elseif canImport(Darwin)
import Darwin
private let systemRead = Darwin.read
#endif

/// Reads the files users give (configs, vocabularies, text inputs): the one place that turns a
/// missing, unreadable or wrong kind of file into an I/O error that names it and says why in plain
/// words (`cannot read: no such file`, `cannot read: it is a folder`, `cannot read: Permission denied`).
package enum InputFile {
    /// Files of 2 GiB or more are refused before reading: every text input of Bertology is far
    /// smaller (GLUE's largest file is 90 MB), a mistaken path to a huge file should fail fast, and the
    /// tokenizer keeps 32-bit offsets into its text and vocabulary.
    package static let maximumSize = Int(Int32.max)

    package static func read(_ url: URL) throws -> Data {
        let path = url.path
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw BertologyError.io(path, "cannot read: " + (errno == ENOENT ? "no such file" : String(cString: strerror(errno))))
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw BertologyError.io(path, "cannot read: \(String(cString: strerror(errno)))")
        }
        switch status.st_mode & S_IFMT {
        case S_IFDIR: throw BertologyError.io(path, "cannot read: it is a folder")
        case S_IFREG:
            guard Int(status.st_size) <= maximumSize else {
                throw BertologyError.io(path, "cannot read: \(status.st_size) bytes, more than the 2 GiB an input may have")
            }
        default: break  // a pipe or a device (/dev/stdin): read until the end
        }
        var data = Data()
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        while true {
            let count = buffer.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, chunk) }
            if count < 0 {
                if errno == EINTR { continue }
                throw BertologyError.io(path, "cannot read: \(String(cString: strerror(errno)))")
            }
            if count == 0 { return data }
            data.append(contentsOf: buffer[0..<count])
            guard data.count <= maximumSize else {
                throw BertologyError.io(path, "cannot read: more than the 2 GiB an input may have")
            }
        }
    }
}
