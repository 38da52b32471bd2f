internal import CKernels
import Foundation

/// SHA-256 digests in lowercase hexadecimal, as `sha256sum` prints them (the C implementation in
/// CKernels/sha256.c).
package enum SHA256 {
    package static func hex(_ data: Data) -> String {
        var context = ck_sha256_context()
        ck_sha256_init(&context)
        data.withUnsafeBytes { raw in
            if let base = raw.baseAddress { ck_sha256_update(&context, base, raw.count) }
        }
        return finish(&context)
    }

    /// The digest of a file's contents, read through a memory map.
    package static func hex(file url: URL) throws -> String {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw BertologyError.io(url.path, "cannot read: \(error.localizedDescription)")
        }
        return hex(data)
    }

    private static func finish(_ context: inout ck_sha256_context) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        digest.withUnsafeMutableBufferPointer { ck_sha256_final(&context, $0.baseAddress!) }
        return digest.map { String(format: "%02x", $0) }.joined()
    }
}
