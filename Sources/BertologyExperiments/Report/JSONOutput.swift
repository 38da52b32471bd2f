import BertologyEngine
import Foundation

/// The one JSON writer: sorted keys (so the same result gives byte-identical files), no escaped
/// slashes, non-finite floats written as null-free strings never reach here (results are finite).
package enum JSONOutput {
    /// The JSON bytes of `value`, keys sorted, NaN and infinities written as the strings "NaN", "Infinity", "-Infinity".
    /// - Parameters:
    ///   - value: the value to encode.
    ///   - pretty: indent over several lines (for files people read) instead of one line.
    /// - Throws: the encoder's error when `value` cannot be encoded.
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try encoder.encode(value)
    }

    /// A value of one of our own files back from its bytes: the decoder that reads what ``encode(_:pretty:)``
    /// writes (the strings "NaN", "Infinity", "-Infinity" as numbers).
    /// - Throws: the decoder's error when the bytes are not a `T`.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try decoder.decode(type, from: data)
    }

    /// A file this package wrote, read back as its type.
    /// - Parameters:
    ///   - type: the file's type.
    ///   - url: the file.
    ///   - what: what the file is, for the error (`train.json`, `an analysis file`).
    /// - Throws: `BertologyError` `.badInput` naming the file and what is wrong when it cannot be read as a `T`.
    public static func read<T: Decodable>(_ type: T.Type, from url: URL, what: String) throws -> T {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw BertologyError.io(url.path, "cannot read \(what): \(error.localizedDescription)")
        }
        do { return try decode(type, from: data) } catch let error as DecodingError {
            throw BertologyError.badInput(url.path, "not \(what): \(describe(error))")
        } catch {
            throw BertologyError.badInput(url.path, "not \(what): \(error.localizedDescription)")
        }
    }

    /// A decoding error in one line: what is wrong and at which key path.
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.isEmpty ? "the top" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "no \"\(key.stringValue)\" at \(path(context.codingPath))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(context.debugDescription) at \(path(context.codingPath))"
        @unknown default: return "\(error)"
        }
    }

    /// One line of JSON text (for one result on stdout and JSON Lines files).
    public static func line<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }
}
