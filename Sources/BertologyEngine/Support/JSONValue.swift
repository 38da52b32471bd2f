import Foundation

/// A parsed JSON document that keeps booleans, numbers and strings apart, so readers of
/// config.json, tokenizer_config.json and safetensors headers can say exactly which field has the
/// wrong type.
///
/// The parser is strict RFC 8259 over UTF-8 bytes, written for untrusted files (it is fuzzed:
/// Fuzz/, docs/RELIABILITY.md). Where Foundation's JSONDecoder would say only "not valid JSON", or
/// silently keep one of two values, it names the line and column and refuses:
/// - a key that repeats in one object (Python's `json` keeps the last, JSONDecoder the first: two
///   readers of one config.json would disagree);
/// - nesting deeper than `maxDepth` (no stack overflow on `[[[[...`);
/// - a number beyond Double (`1e400`), bytes that are not UTF-8, lone UTF-16 surrogates in `\u`
///   escapes, control characters inside strings, text after the value.
/// A UTF-8 byte-order mark before the value is skipped.
package enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Deeper nesting is an error. Real configs and headers nest 3 deep.
    package static let maxDepth = 512

    /// Parses `data`; the error names `file` and says where and why the JSON is invalid:
    /// `not valid JSON (line 3, column 7: expected ',' or '}')`.
    package static func parse(_ data: Data, file: String) throws -> JSONValue {
        do {
            return try data.withUnsafeBytes { raw in
                var parser = JSONParser(bytes: raw.bindMemory(to: UInt8.self))
                return try parser.document()
            }
        } catch let error as JSONParser.Failure {
            throw BertologyError.badInput(file, "not valid JSON (line \(error.line), column \(error.column): \(error.reason))")
        }
    }

    package var object: [String: JSONValue]? { if case .object(let value) = self { value } else { nil } }
    package var array: [JSONValue]? { if case .array(let value) = self { value } else { nil } }
    package var string: String? { if case .string(let value) = self { value } else { nil } }
    package var bool: Bool? { if case .bool(let value) = self { value } else { nil } }
    package var double: Double? { if case .number(let value) = self { value } else { nil } }

    /// An exact integer (no fraction, within ±2^53), else nil.
    package var integer: Int? {
        guard case .number(let value) = self, value.rounded() == value, abs(value) <= 9_007_199_254_740_992 else { return nil }
        return Int(value)
    }
}

/// Recursive descent over the bytes; `position` is the next byte to read.
private struct JSONParser {
    struct Failure: Error {
        let line: Int
        let column: Int
        let reason: String
    }

    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func document() throws -> JSONValue {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
        skipWhitespace()
        guard position < bytes.count else { throw failure("the document is empty") }
        let value = try self.value()
        skipWhitespace()
        guard position == bytes.count else { throw failure("unexpected text after the JSON value") }
        return value
    }

    // MARK: - Values

    private mutating func value() throws -> JSONValue {
        guard position < bytes.count else { throw failure("the document ends where a value should be") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw failure(unexpected("a value"))
        }
    }

    private mutating func object() throws -> JSONValue {
        try enter()
        position += 1  // {
        var fields: [String: JSONValue] = [:]
        skipWhitespace()
        if try peekEnd("}", inside: "an object") {
            depth -= 1
            return .object(fields)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count else { throw failure("the document ends inside an object") }
            guard bytes[position] == UInt8(ascii: "\"") else { throw failure("expected a string key in quotes") }
            let keyPosition = position
            let key = try string()
            skipWhitespace()
            guard position < bytes.count else { throw failure("the document ends inside an object") }
            guard bytes[position] == UInt8(ascii: ":") else { throw failure(unexpected("':' after the key")) }
            position += 1
            skipWhitespace()
            let value = try self.value()
            guard fields.updateValue(value, forKey: key) == nil else {
                throw failure("key \"\(key)\" repeats", at: keyPosition)
            }
            skipWhitespace()
            guard position < bytes.count else { throw failure("the document ends inside an object") }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                depth -= 1
                return .object(fields)
            default: throw failure(unexpected("',' or '}'"))
            }
        }
    }

    private mutating func array() throws -> JSONValue {
        try enter()
        position += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if try peekEnd("]", inside: "a list") {
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try value())
            skipWhitespace()
            guard position < bytes.count else { throw failure("the document ends inside a list") }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"):
                position += 1
                depth -= 1
                return .array(elements)
            default: throw failure(unexpected("',' or ']'"))
            }
        }
    }

    private mutating func enter() throws {
        depth += 1
        guard depth <= JSONValue.maxDepth else { throw failure("nested more than \(JSONValue.maxDepth) deep") }
    }

    /// Consumes `end` when it is next (an empty object or list).
    private mutating func peekEnd(_ end: Unicode.Scalar, inside container: String) throws -> Bool {
        guard position < bytes.count else { throw failure("the document ends inside \(container)") }
        guard bytes[position] == UInt8(ascii: end) else { return false }
        position += 1
        return true
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        let start = word.utf8Start
        guard position + count <= bytes.count,
              (0..<count).allSatisfy({ bytes[position + $0] == start[$0] }) else {
            throw failure(unexpected("a value"))
        }
        position += count
    }

    // MARK: - Numbers

    private mutating func number() throws -> Double {
        let start = position
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count, isDigit(bytes[position]) else { throw failure("expected a digit") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            if position < bytes.count, isDigit(bytes[position]) { throw failure("a number cannot start with 0") }
        } else {
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard position < bytes.count, isDigit(bytes[position]) else { throw failure("expected a digit after '.'") }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < bytes.count, isDigit(bytes[position]) else { throw failure("expected a digit in the exponent") }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        // ASCII by construction.
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            let shown = text.count > 40 ? text.prefix(40) + "..." : Substring(text)
            throw failure("the number \(shown) is out of range", at: start)
        }
        return value
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    // MARK: - Strings

    private mutating func string() throws -> String {
        position += 1  // opening quote
        var utf8: [UInt8] = []
        while true {
            guard position < bytes.count else { throw failure("the document ends inside a string") }
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                // Every byte appended was checked: ASCII, escapes, or a validated UTF-8 sequence.
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try escape(into: &utf8)
            case 0..<0x20:
                throw failure("control character U+\(hex(UInt32(byte), digits: 4)) inside a string (write it as an escape)")
            case 0x20..<0x80:
                utf8.append(byte)
                position += 1
            default:
                let length = try validatedSequenceLength()
                utf8.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[position..<(position + length)]))
                position += length
            }
        }
    }

    private mutating func escape(into utf8: inout [UInt8]) throws {
        position += 1  // backslash
        guard position < bytes.count else { throw failure("the document ends inside a string") }
        let code = bytes[position]
        position += 1
        switch code {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(code)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            let escapeStart = position - 2
            var value = try hexQuad()
            if (0xD800..<0xDC00).contains(value) {
                // A high surrogate must be followed by \u and a low one.
                guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                      bytes[position + 1] == UInt8(ascii: "u") else {
                    throw failure("lone surrogate \\u\(hex(value, digits: 4)) in a string", at: escapeStart)
                }
                position += 2
                let low = try hexQuad()
                guard (0xDC00..<0xE000).contains(low) else {
                    throw failure("lone surrogate \\u\(hex(value, digits: 4)) in a string", at: escapeStart)
                }
                value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(value) {
                throw failure("lone surrogate \\u\(hex(value, digits: 4)) in a string", at: escapeStart)
            }
            utf8.append(contentsOf: Unicode.UTF8.encode(Unicode.Scalar(value)!)!)
        default:
            throw failure("unknown escape in a string", at: position - 2)
        }
    }

    private mutating func hexQuad() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard position < bytes.count else { throw failure("the document ends inside a \\u escape") }
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("expected four hex digits after \\u")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    /// The length of the well-formed UTF-8 sequence at `position` (a non-ASCII lead byte), per
    /// the Unicode standard's table 3-7 (no overlong forms, no surrogates, nothing past U+10FFFF).
    private func validatedSequenceLength() throws -> Int {
        let lead = bytes[position]
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: throw failure("not UTF-8")
        }
        guard position + length <= bytes.count else { throw failure("not UTF-8") }
        let second = bytes[position + 1]
        guard second >= low && second <= high else { throw failure("not UTF-8") }
        for offset in 2..<max(2, length) where bytes[position + offset] & 0xC0 != 0x80 {
            throw failure("not UTF-8")
        }
        return length
    }

    // MARK: - Errors

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    /// "expected X" with what was found instead.
    private func unexpected(_ expected: String) -> String {
        guard position < bytes.count else { return "expected \(expected), found the end of the document" }
        let byte = bytes[position]
        if byte >= 0x21 && byte < 0x7F { return "expected \(expected), found '\(Character(Unicode.Scalar(byte)))'" }
        return "expected \(expected)"
    }

    private func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// A failure at `offset` (default: the current position), with its 1-based line and column
    /// (the column counts characters as Unicode scalars, not bytes).
    private func failure(_ reason: String, at offset: Int? = nil) -> Failure {
        let offset = min(offset ?? position, bytes.count)
        var line = 1, column = 1
        for index in 0..<offset {
            let byte = bytes[index]
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return Failure(line: line, column: column, reason: reason)
    }
}
