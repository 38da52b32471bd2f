import BertologyEngine
import Foundation

/// The smallest PNG writer that serves the thumbnail sheet: 8-bit palette images, image data in
/// stored (uncompressed) deflate blocks. Any browser or image library reads them; Foundation on
/// Linux has no zlib to compress with, and the thumbnails are small.
enum PNGImage {
    /// A (height, width) image of palette `indices`; `palette` has at most 256 colours.
    static func indexed(width: Int, height: Int, indices: [UInt8], palette: [RGB]) -> Data {
        precondition(indices.count == width * height && !palette.isEmpty && palette.count <= 256, "bad PNG image")
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = Data()
        header.append(bigEndian: UInt32(width))
        header.append(bigEndian: UInt32(height))
        header.append(contentsOf: [8, 3, 0, 0, 0])  // 8 bits, palette colour, deflate, filter 0, no interlace
        appendChunk("IHDR", header, to: &png)
        appendChunk("PLTE", Data(palette.flatMap { [$0.red, $0.green, $0.blue] }), to: &png)
        // Scanlines, each with filter type 0 (none).
        var raw = [UInt8]()
        raw.reserveCapacity(height * (width + 1))
        for y in 0..<height {
            raw.append(0)
            raw.append(contentsOf: indices[(y * width)..<((y + 1) * width)])
        }
        appendChunk("IDAT", zlibStored(raw), to: &png)
        appendChunk("IEND", Data(), to: &png)
        return png
    }

    /// A zlib stream of stored blocks (RFC 1950/1951): no compression, valid everywhere.
    static func zlibStored(_ bytes: [UInt8]) -> Data {
        var out = Data([0x78, 0x01])
        var offset = 0
        repeat {
            let count = min(65_535, bytes.count - offset)
            let final: UInt8 = offset + count == bytes.count ? 1 : 0
            out.append(final)
            out.append(UInt8(count & 0xFF))
            out.append(UInt8(count >> 8))
            out.append(UInt8(~count & 0xFF))
            out.append(UInt8((~count >> 8) & 0xFF))
            out.append(contentsOf: bytes[offset..<(offset + count)])
            offset += count
        } while offset < bytes.count
        out.append(bigEndian: adler32(bytes))
        return out
    }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in bytes {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        return b << 16 | a
    }

    static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    private static func appendChunk(_ type: String, _ body: Data, to png: inout Data) {
        png.append(bigEndian: UInt32(body.count))
        let typed = Data(type.utf8) + body
        png.append(typed)
        png.append(bigEndian: crc32(typed))
    }
}

private extension Data {
    mutating func append(bigEndian value: UInt32) {
        append(contentsOf: [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)])
    }
}
