import Foundation

/// Reads a UTF-8 text file as lines, the way every text input of Bertology is read: a leading BOM
/// is dropped, CRLF and LF both end a line, a final newline does not add an empty line, and
/// bytes that are not UTF-8 are an error naming the line.
public enum TextLines {
    /// Reads the file at `url` as lines, without their line endings.
    /// - Throws: `BertologyError` `.io` when the file cannot be read; `.badInput` naming the first line that is not UTF-8.
    public static func read(_ url: URL) throws -> [String] {
        try split(InputFile.read(url), file: url.path)
    }

    /// Splits bytes already read into lines, without their line endings.
    /// - Parameters:
    ///   - data: the file's bytes.
    ///   - file: the file's name, for error messages.
    /// - Throws: `BertologyError` `.badInput` naming the first line that is not UTF-8.
    public static func split(_ data: Data, file: String) throws -> [String] {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var lines: [String] = []
        var start = 0
        var number = 1
        func take(_ end: Int) throws {
            var stop = end
            if stop > start && bytes[stop - 1] == 0x0D { stop -= 1 }
            guard let line = String(validating: bytes[start..<stop], as: UTF8.self) else {
                throw BertologyError.badInput(file, at: "line \(number)", "not valid UTF-8")
            }
            lines.append(line)
        }
        for index in bytes.indices where bytes[index] == 0x0A {
            try take(index)
            start = index + 1
            number += 1
        }
        if start < bytes.count { try take(bytes.count) }
        return lines
    }
}
