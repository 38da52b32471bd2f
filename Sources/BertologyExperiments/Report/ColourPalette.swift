import BertologyEngine
import Foundation

/// An sRGB colour.
struct RGB: Sendable, Equatable {
    public let red: UInt8
    public let green: UInt8
    public let blue: UInt8

    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// `0xRRGGBB`.
    public init(hex: UInt32) {
        self.init(UInt8((hex >> 16) & 0xFF), UInt8((hex >> 8) & 0xFF), UInt8(hex & 0xFF))
    }

    /// `#rrggbb`.
    public var css: String { String(format: "#%02x%02x%02x", red, green, blue) }

    /// Black or white, whichever reads better on this colour (relative luminance).
    public var textColour: RGB {
        let luminance = 0.2126 * Double(red) + 0.7152 * Double(green) + 0.0722 * Double(blue)
        return luminance > 140 ? RGB(0, 0, 0) : RGB(255, 255, 255)
    }
}

/// A sequential colour scale, linear between evenly spaced stops.
struct ColourPalette: Sendable, Equatable {
    public let stops: [RGB]

    public init(stops: [RGB]) {
        precondition(stops.count >= 2, "a palette needs two stops")
        self.stops = stops
    }

    /// matplotlib's viridis at 0, 1/8, ..., 1 (perceptually uniform, readable in grey and by most
    /// colour-blind readers).
    public static let viridis = ColourPalette(stops: [0x440154, 0x472D7B, 0x3B528B, 0x2C728E, 0x21918C,
                                                      0x28AE80, 0x5EC962, 0xADDC30, 0xFDE725].map { RGB(hex: $0) })

    /// A diverging scale for changes around zero (ColorBrewer RdBu, 9 classes): red below the
    /// middle, white at it, blue above. Give it a range symmetric around 0.
    public static let redBlue = ColourPalette(stops: [0xB2182B, 0xD6604D, 0xF4A582, 0xFDDBC7, 0xF7F7F7,
                                                      0xD1E5F0, 0x92C5DE, 0x4393C3, 0x2166AC].map { RGB(hex: $0) })

    /// The colour at `t` in [0, 1] (clamped; NaN gives the lowest colour).
    public func colour(at t: Double) -> RGB {
        let clamped = t.isNaN ? 0 : min(1, max(0, t))
        let position = clamped * Double(stops.count - 1)
        let index = min(Int(position), stops.count - 2)
        let f = position - Double(index)
        let (a, b) = (stops[index], stops[index + 1])
        func mix(_ x: UInt8, _ y: UInt8) -> UInt8 { UInt8((Double(x) * (1 - f) + Double(y) * f).rounded()) }
        return RGB(mix(a.red, b.red), mix(a.green, b.green), mix(a.blue, b.blue))
    }
}

/// Text for XML (SVG) and HTML: & < > " ' escaped.
enum XMLText {
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }

    /// A number for an SVG attribute: at most two decimals, no exponent.
    static func number(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        if rounded == rounded.rounded() { return String(Int(rounded)) }
        return String(format: "%.2f", rounded)
    }

    /// A short identifier derived from `text` (FNV-1a, hexadecimal): stable across runs, unlike `hashValue`.
    static func identifier(_ text: String) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return String(hash, radix: 16)
    }

    /// A value for display with `digits` decimals.
    static func format(_ value: Double, digits: Int) -> String {
        value.isFinite ? String(format: "%.\(digits)f", value) : "n/a"
    }
}
