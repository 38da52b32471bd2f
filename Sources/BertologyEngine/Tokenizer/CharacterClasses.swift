/// What the BERT normalizer and pre-tokenizer need to know about one Unicode scalar, read from
/// the generated `UnicodeTables` (the Rust reference's Unicode data, never the platform's).
struct ScalarFlags: OptionSet, Sendable {
    let rawValue: UInt16
    /// Removed by text cleaning (NUL, U+FFFD, controls, format and private-use characters).
    static let drop = ScalarFlags(rawValue: 1 << 0)
    /// Turned into U+0020 by text cleaning.
    static let cleanSpace = ScalarFlags(rawValue: 1 << 1)
    /// Split on and removed by the pre-tokenizer.
    static let whitespace = ScalarFlags(rawValue: 1 << 2)
    /// A word of its own for the pre-tokenizer.
    static let punctuation = ScalarFlags(rawValue: 1 << 3)
    /// Nonspacing mark (Mn): removed when stripping accents.
    static let nonspacing = ScalarFlags(rawValue: 1 << 4)
    /// A CJK ideograph that the normalizer surrounds with spaces.
    static let chinese = ScalarFlags(rawValue: 1 << 5)
    /// Has a canonical decomposition (NFD changes it).
    static let decomposes = ScalarFlags(rawValue: 1 << 6)
    /// Its lowercase differs from itself.
    static let lowercases = ScalarFlags(rawValue: 1 << 7)
    /// Canonical combining class other than 0.
    static let combining = ScalarFlags(rawValue: 1 << 8)
    /// A mark (Mn, Mc, Me) for the StripAccents normalizer.
    static let mark = ScalarFlags(rawValue: 1 << 9)
    /// `\p{L}` of the ByteLevel pre-tokenizer's regex.
    static let letter = ScalarFlags(rawValue: 1 << 10)
    /// `\p{N}` of the ByteLevel pre-tokenizer's regex.
    static let number = ScalarFlags(rawValue: 1 << 11)
    /// `\w` of the Whitespace pre-tokenizer's regex (also the `single_word` test of added tokens).
    static let word = ScalarFlags(rawValue: 1 << 12)
    /// Rust `char::is_numeric` (the Digits pre-tokenizer).
    static let numeric = ScalarFlags(rawValue: 1 << 13)
}

/// Two-stage lookup of `ScalarFlags` for every scalar, plus the mappings (NFD, lowercase) and
/// combining classes. Built once from `UnicodeTables`, immutable afterwards.
final class CharacterClasses: @unchecked Sendable {
    static let shared = CharacterClasses()

    /// Scalars per block of the two-stage table.
    private static let blockShift: UInt32 = 7
    private static let blockSize = 1 << blockShift
    private static let scalarLimit = 0x110000

    // Immutable after init: blockIndex[scalar >> blockShift] is the first entry of that block in
    // blockFlags. Identical blocks are stored once (most of the code space is one empty block).
    private let blockIndex: UnsafeMutablePointer<Int32>
    private let blockFlags: UnsafeMutablePointer<UInt16>

    /// What the normalizer and pre-tokenizer do with each ASCII byte, derived from the flags.
    enum ASCIIKind: UInt8 {
        case word, dropped, space, punctuation
    }
    private let asciiKinds: UnsafeMutablePointer<ASCIIKind>

    private let decompositions: ScalarMapping
    private let lowercaseMappings: ScalarMapping
    private let combiningRuns: [UInt32]

    private init() {
        let limit = Self.scalarLimit
        var flags = [UInt16](repeating: 0, count: limit)
        func mark(_ ranges: [UInt32], _ flag: ScalarFlags) {
            var i = 0
            while i < ranges.count {
                for scalar in Int(ranges[i])...Int(ranges[i + 1]) { flags[scalar] |= flag.rawValue }
                i += 2
            }
        }
        mark(UnicodeTables.drop, .drop)
        mark(UnicodeTables.cleanSpace, .cleanSpace)
        mark(UnicodeTables.whitespace, .whitespace)
        mark(UnicodeTables.punctuation, .punctuation)
        mark(UnicodeTables.nonspacing, .nonspacing)
        mark(UnicodeTables.chinese, .chinese)
        mark(UnicodeTables.mark, .mark)
        mark(UnicodeTables.letter, .letter)
        mark(UnicodeTables.number, .number)
        mark(UnicodeTables.word, .word)
        mark(UnicodeTables.numeric, .numeric)
        decompositions = ScalarMapping(flattened: UnicodeTables.decomposition)
        lowercaseMappings = ScalarMapping(flattened: UnicodeTables.lowercase)
        for scalar in decompositions.keys { flags[Int(scalar)] |= ScalarFlags.decomposes.rawValue }
        for scalar in Hangul.syllables { flags[Int(scalar)] |= ScalarFlags.decomposes.rawValue }
        for scalar in lowercaseMappings.keys { flags[Int(scalar)] |= ScalarFlags.lowercases.rawValue }
        combiningRuns = UnicodeTables.combiningClass
        var i = 0
        while i < combiningRuns.count {
            for scalar in Int(combiningRuns[i])...Int(combiningRuns[i + 1]) {
                flags[scalar] |= ScalarFlags.combining.rawValue
            }
            i += 3
        }

        let blockCount = limit >> Int(Self.blockShift)
        var uniqueBlocks: [[UInt16]: Int32] = [:]
        var storage: [UInt16] = []
        blockIndex = .allocate(capacity: blockCount)
        for block in 0..<blockCount {
            let start = block << Int(Self.blockShift)
            let content = Array(flags[start..<(start + Self.blockSize)])
            if let existing = uniqueBlocks[content] {
                blockIndex[block] = existing
            } else {
                let offset = Int32(storage.count)
                uniqueBlocks[content] = offset
                storage.append(contentsOf: content)
                blockIndex[block] = offset
            }
        }
        blockFlags = .allocate(capacity: storage.count)
        blockFlags.initialize(from: storage, count: storage.count)

        asciiKinds = .allocate(capacity: 128)
        for byte in 0..<128 {
            let flags = ScalarFlags(rawValue: flags[byte])
            // ASCII has no decomposition, no mark, no CJK; lower-casing keeps it ASCII (checked
            // by the tests against the lowercase table).
            let kind: ASCIIKind = flags.contains(.drop) ? .dropped
                : flags.contains(.cleanSpace) || flags.contains(.whitespace) ? .space
                : flags.contains(.punctuation) ? .punctuation : .word
            asciiKinds[byte] = kind
        }
    }

    deinit {
        blockIndex.deallocate()
        blockFlags.deallocate()
        asciiKinds.deallocate()
    }

    @inline(__always)
    func asciiKind(_ byte: UInt8) -> ASCIIKind {
        asciiKinds[Int(byte)]
    }

    @inline(__always)
    func flags(_ scalar: UInt32) -> ScalarFlags {
        let block = Int(blockIndex[Int(scalar >> Self.blockShift)])
        return ScalarFlags(rawValue: blockFlags[block + Int(scalar & UInt32(Self.blockSize - 1))])
    }

    /// Calls `body` with each scalar of the full canonical decomposition of `scalar` (which has
    /// the `.decomposes` flag).
    @inline(__always)
    func forEachInDecomposition(of scalar: UInt32, _ body: (UInt32) -> Void) {
        if Hangul.syllables.contains(scalar) {
            Hangul.decompose(scalar, body)
        } else {
            decompositions.forEach(in: scalar, body)
        }
    }

    /// Calls `body` with each scalar of the lowercase of `scalar` (which has the `.lowercases` flag).
    @inline(__always)
    func forEachInLowercase(of scalar: UInt32, _ body: (UInt32) -> Void) {
        lowercaseMappings.forEach(in: scalar, body)
    }

    /// The canonical combining class of a scalar with the `.combining` flag.
    func combiningClass(_ scalar: UInt32) -> UInt8 {
        // Runs are (lower, upper, class) triples sorted by lower bound.
        var low = 0
        var high = combiningRuns.count / 3
        while low < high {
            let middle = (low + high) / 2
            if combiningRuns[middle * 3 + 1] < scalar { low = middle + 1 } else { high = middle }
        }
        guard low < combiningRuns.count / 3, combiningRuns[low * 3] <= scalar else { return 0 }
        return UInt8(combiningRuns[low * 3 + 2])
    }
}

/// A sorted map from a scalar to a short sequence of scalars (decompositions, lowercase).
private struct ScalarMapping {
    let keys: [UInt32]
    /// values[starts[i]..<starts[i + 1]] is the image of keys[i].
    private let starts: [Int32]
    private let values: [UInt32]

    /// `flattened` holds entries `scalar, n, n scalars`, sorted by scalar (see UnicodeTables).
    init(flattened: [UInt32]) {
        var keys: [UInt32] = []
        var starts: [Int32] = [0]
        var values: [UInt32] = []
        var i = 0
        while i < flattened.count {
            let count = Int(flattened[i + 1])
            keys.append(flattened[i])
            values.append(contentsOf: flattened[(i + 2)..<(i + 2 + count)])
            starts.append(Int32(values.count))
            i += 2 + count
        }
        self.keys = keys
        self.starts = starts
        self.values = values
    }

    @inline(__always)
    func forEach(in scalar: UInt32, _ body: (UInt32) -> Void) {
        var low = 0
        var high = keys.count
        while low < high {
            let middle = (low + high) / 2
            if keys[middle] < scalar { low = middle + 1 } else { high = middle }
        }
        guard low < keys.count, keys[low] == scalar else {
            body(scalar)
            return
        }
        for index in Int(starts[low])..<Int(starts[low + 1]) { body(values[index]) }
    }
}

/// Hangul syllables decompose by arithmetic (Unicode 3.12), as unicode-normalization does.
enum Hangul {
    static let syllables: ClosedRange<UInt32> = 0xAC00...0xD7A3
    private static let leadBase: UInt32 = 0x1100, vowelBase: UInt32 = 0x1161, trailBase: UInt32 = 0x11A7
    private static let vowelCount: UInt32 = 21, trailCount: UInt32 = 28

    @inline(__always)
    static func decompose(_ syllable: UInt32, _ body: (UInt32) -> Void) {
        let index = syllable - syllables.lowerBound
        body(leadBase + index / (vowelCount * trailCount))
        body(vowelBase + (index % (vowelCount * trailCount)) / trailCount)
        let trail = index % trailCount
        if trail != 0 { body(trailBase + trail) }
    }
}
