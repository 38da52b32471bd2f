internal import CSHA256
import Foundation

/// SHA-256 digests in lowercase hexadecimal, as `sha256sum` prints them: the fingerprints of
/// ablation journals (model and data files). The C in Sources/CSHA256 (its own target, not a kernel):
/// apple/swift-crypto costs minutes of clean build, and Swift in a debug build hashes the 90 MB
/// default model in about 45 s (docs/BUILD.md, "SHA-256").
package enum SHA256 {
    package static func hex(_ data: Data) -> String {
        var context = bertology_sha256_context()
        bertology_sha256_init(&context)
        data.withUnsafeBytes { raw in
            if let base = raw.baseAddress { bertology_sha256_update(&context, base, raw.count) }
        }
        var digest = [UInt8](repeating: 0, count: 32)
        digest.withUnsafeMutableBufferPointer { bertology_sha256_final(&context, $0.baseAddress!) }
        return digest.map { String(format: "%02x", $0) }.joined()
    }

    /// The digest of a file's contents, read through a memory map.
    package static func hex(file url: URL) throws -> String {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw BertologyError.io(url.path, "cannot read: \(error.localizedDescription)")
        }
        return hex(data)
    }
}
