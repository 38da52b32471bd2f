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

    /// One line of JSON text (for one result on stdout and JSON Lines files).
    public static func line<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }
}
