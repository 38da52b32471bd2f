import Foundation

/// A normalizer of `tokenizer.json`, as the Rust `tokenizers` library runs it (normalizers/*.rs).
/// Text is handled as Unicode scalars (Rust `char`s); no offsets are tracked, only the text.
indirect enum Normalizer: Sendable {
    /// `BertNormalizer`: clean (drop controls, whitespace to U+0020), space around CJK ideographs,
    /// strip accents (NFD, then nonspacing marks removed; nil follows `lowercase`), lower-case.
    case bert(cleanText: Bool, handleChineseChars: Bool, stripAccents: Bool?, lowercase: Bool)
    case nfc, nfd, nfkc, nfkd
    /// Rust `char::to_lowercase`, scalar by scalar.
    case lowercase
    /// Marks (Mn, Mc, Me: Rust `is_combining_mark`) removed, without decomposing first.
    case stripAccents
    /// Every match of the pattern replaced by `content`.
    case replace(TextPattern, content: [Unicode.Scalar])
    /// `prepend` put in front of a non-empty text.
    case prepend([Unicode.Scalar])
    /// Leading and/or trailing whitespace (Rust `char::is_whitespace`) removed.
    case strip(left: Bool, right: Bool)
    /// SentencePiece's precompiled charsmap.
    case precompiled(PrecompiledCharsmap)
    case sequence([Normalizer])

    func normalize(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let classes = CharacterClasses.shared
        switch self {
        case .bert(let cleanText, let handleChineseChars, let stripAccents, let lowercase):
            var out: [Unicode.Scalar] = []
            out.reserveCapacity(text.count + 8)
            for scalar in text {
                let flags = classes.flags(scalar.value)
                if cleanText {
                    if flags.contains(.drop) { continue }
                    if flags.contains(.cleanSpace) {
                        out.append(" ")
                        continue
                    }
                }
                if handleChineseChars && flags.contains(.chinese) {
                    out.append(" ")
                    out.append(scalar)
                    out.append(" ")
                } else {
                    out.append(scalar)
                }
            }
            if stripAccents ?? lowercase {
                out = TextNormalization.canonicalDecomposition(out).filter {
                    !classes.flags($0.value).contains(.nonspacing)
                }
            }
            return lowercase ? TextNormalization.lowercased(out) : out
        case .nfd:
            return TextNormalization.canonicalDecomposition(text)
        case .nfc:
            return TextNormalization.foundationForm(text) { $0.precomposedStringWithCanonicalMapping }
        case .nfkc:
            return TextNormalization.foundationForm(text) { $0.precomposedStringWithCompatibilityMapping }
        case .nfkd:
            return TextNormalization.foundationForm(text) { $0.decomposedStringWithCompatibilityMapping }
        case .lowercase:
            return TextNormalization.lowercased(text)
        case .stripAccents:
            return text.filter { !classes.flags($0.value).contains(.mark) }
        case .replace(let pattern, let content):
            var out: [Unicode.Scalar] = []
            var last = 0
            for match in pattern.matches(in: text) {
                out.append(contentsOf: text[last..<match.lowerBound])
                out.append(contentsOf: content)
                last = match.upperBound
            }
            out.append(contentsOf: text[last...])
            return out
        case .prepend(let prefix):
            return text.isEmpty ? text : prefix + text
        case .strip(let left, let right):
            var start = 0
            var end = text.count
            if left { while start < end && classes.flags(text[start].value).contains(.whitespace) { start += 1 } }
            if right { while end > start && classes.flags(text[end - 1].value).contains(.whitespace) { end -= 1 } }
            return Array(text[start..<end])
        case .precompiled(let charsmap):
            return charsmap.normalize(text)
        case .sequence(let normalizers):
            return normalizers.reduce(text) { $1.normalize($0) }
        }
    }
}

enum TextNormalization {
    /// The Unicode version of the reference's normalization crate (unicode-normalization-alignments):
    /// measured, the newest scalars it decomposes, composes or reorders are of Unicode 9.0.
    static let referenceUnicodeVersion = (major: 9, minor: 0)

    /// Whether the reference's normalization data knows the scalar (assigned by Unicode 9.0).
    @inline(__always)
    static func isKnownToReference(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x300 { return true }
        guard let age = scalar.properties.age else { return false }
        return age.major < referenceUnicodeVersion.major
            || (age.major == referenceUnicodeVersion.major && age.minor <= referenceUnicodeVersion.minor)
    }

    /// NFC, NFKC or NFKD by Foundation, as the reference computes it: scalars assigned after its
    /// Unicode version are starters it never maps, so they are kept as they are and cut the text
    /// into runs that Foundation normalizes one by one (decompositions and combining classes of
    /// assigned scalars never change between Unicode versions).
    static func foundationForm(_ text: [Unicode.Scalar], _ form: (String) -> String) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var runStart = 0
        func flush(_ end: Int) {
            if runStart < end {
                out.append(contentsOf: form(String(String.UnicodeScalarView(text[runStart..<end]))).unicodeScalars)
            }
        }
        for (index, scalar) in text.enumerated() where !isKnownToReference(scalar) {
            flush(index)
            out.append(scalar)
            runStart = index + 1
        }
        flush(text.count)
        return out
    }

    /// Rust `char::to_lowercase` for each scalar (no final-sigma rule), from the generated tables.
    static func lowercased(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let classes = CharacterClasses.shared
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for scalar in text {
            if classes.flags(scalar.value).contains(.lowercases) {
                classes.forEachInLowercase(of: scalar.value) { out.append(Unicode.Scalar($0)!) }
            } else {
                out.append(scalar)
            }
        }
        return out
    }

    /// NFD from the generated tables (the Rust reference's Unicode data): full canonical
    /// decomposition, then each run of combining marks put in canonical order (a stable sort).
    static func canonicalDecomposition(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let classes = CharacterClasses.shared
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count + 4)
        for scalar in text {
            if classes.flags(scalar.value).contains(.decomposes) {
                classes.forEachInDecomposition(of: scalar.value) { out.append(Unicode.Scalar($0)!) }
            } else {
                out.append(scalar)
            }
        }
        var index = 0
        while index < out.count {
            guard classes.flags(out[index].value).contains(.combining) else {
                index += 1
                continue
            }
            var end = index + 1
            while end < out.count && classes.flags(out[end].value).contains(.combining) { end += 1 }
            if end - index > 1 {
                let run = out[index..<end].enumerated().sorted {
                    let (a, b) = (classes.combiningClass($0.element.value), classes.combiningClass($1.element.value))
                    return a != b ? a < b : $0.offset < $1.offset
                }.map(\.element)
                out.replaceSubrange(index..<end, with: run)
            }
            index = end
        }
        return out
    }
}

/// SentencePiece's `precompiled_charsmap` (the `Precompiled` normalizer): a double-array trie
/// over UTF-8 whose values point into a pool of NUL-terminated replacements.
///
/// As the reference: the text is cut into extended grapheme clusters; a cluster shorter than 6
/// bytes is looked up whole, and if no rule applies (or it is longer), each of its scalars is
/// looked up alone. A lookup takes the first (shortest) rule that is a prefix of the chunk.
final class PrecompiledCharsmap: Sendable {
    private let units: [UInt32]
    private let pool: [UInt8]

    /// Parses the decoded blob: u32 (little-endian) byte size of the trie, the trie, the pool.
    init?(_ blob: [UInt8]) {
        guard blob.count >= 4 else { return nil }
        let trieBytes = Int(UInt32(blob[0]) | UInt32(blob[1]) << 8 | UInt32(blob[2]) << 16 | UInt32(blob[3]) << 24)
        guard trieBytes % 4 == 0, trieBytes <= blob.count - 4, trieBytes >= 4 else { return nil }
        var units: [UInt32] = []
        units.reserveCapacity(trieBytes / 4)
        var offset = 4
        while offset < 4 + trieBytes {
            units.append(UInt32(blob[offset]) | UInt32(blob[offset + 1]) << 8 | UInt32(blob[offset + 2]) << 16
                         | UInt32(blob[offset + 3]) << 24)
            offset += 4
        }
        self.units = units
        self.pool = Array(blob[(4 + trieBytes)...])
        guard String(validating: pool, as: UTF8.self) != nil else { return nil }
    }

    /// The replacement of the first rule that is a prefix of `chunk`, or nil.
    func transform(_ chunk: [UInt8]) -> [Unicode.Scalar]? {
        @inline(__always) func offset(_ unit: UInt32) -> Int { Int((unit >> 10) << ((unit & (1 << 9)) >> 6)) }
        var node = 0
        guard !units.isEmpty else { return nil }
        node ^= offset(units[0])
        for byte in chunk {
            if byte == 0 { return nil }
            node ^= Int(byte)
            guard node < units.count else { return nil }
            let unit = units[node]
            guard unit & ((1 << 31) | 0xFF) == UInt32(byte) else { return nil }
            node ^= offset(unit)
            if (unit >> 8) & 1 == 1 {
                guard node < units.count else { return nil }
                let start = Int(units[node] & ((1 << 31) - 1))
                guard start <= pool.count else { return nil }
                var end = start
                while end < pool.count && pool[end] != 0 { end += 1 }
                guard let text = String(validating: pool[start..<end], as: UTF8.self) else { return nil }
                return Array(text.unicodeScalars)
            }
        }
        return nil
    }

    func normalize(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        let string = String(String.UnicodeScalarView(text))
        for grapheme in string {
            let utf8 = Array(grapheme.utf8)
            if utf8.count < 6, let replacement = transform(utf8) {
                out.append(contentsOf: replacement)
                continue
            }
            for scalar in grapheme.unicodeScalars {
                if let replacement = transform(Array(String(scalar).utf8)) {
                    out.append(contentsOf: replacement)
                } else {
                    out.append(scalar)
                }
            }
        }
        return out
    }
}

/// The pattern of a `Replace` normalizer or a `Split` pre-tokenizer: a literal string or a regex.
enum TextPattern: Sendable {
    case literal([Unicode.Scalar])
    case regex(TokenizerRegex)

    /// The non-overlapping matches, leftmost first, as scalar index ranges (empty matches skipped).
    func matches(in text: [Unicode.Scalar]) -> [Range<Int>] {
        switch self {
        case .literal(let literal):
            guard !literal.isEmpty, literal.count <= text.count else { return [] }
            var result: [Range<Int>] = []
            var index = 0
            while index + literal.count <= text.count {
                if text[index] == literal[0] && text[index..<(index + literal.count)].elementsEqual(literal) {
                    result.append(index..<(index + literal.count))
                    index += literal.count
                } else {
                    index += 1
                }
            }
            return result
        case .regex(let regex):
            return regex.matches(in: text)
        }
    }
}

/// A regex of `tokenizer.json` (Oniguruma syntax in the reference), run with Swift `Regex` on
/// Unicode scalars. The constructs real tokenizers use (classes with \p{..}, \s, lookahead,
/// alternation, counted repeats, \A, \z, (?i:...)) mean the same in both.
final class TokenizerRegex: @unchecked Sendable {
    let pattern: String
    private let regex: Regex<AnyRegexOutput>

    init(_ pattern: String) throws {
        self.pattern = pattern
        regex = try Regex(pattern).matchingSemantics(.unicodeScalar)
    }

    func matches(in text: [Unicode.Scalar]) -> [Range<Int>] {
        let string = String(String.UnicodeScalarView(text))
        let view = string.unicodeScalars
        var result: [Range<Int>] = []
        var offset = 0
        var index = view.startIndex
        for match in string.matches(of: regex) {
            let range = match.range
            if range.isEmpty { continue }
            offset += view.distance(from: index, to: range.lowerBound)
            let length = view.distance(from: range.lowerBound, to: range.upperBound)
            result.append(offset..<(offset + length))
            offset += length
            index = range.upperBound
        }
        return result
    }
}
