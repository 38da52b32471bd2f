/// One piece of pre-tokenized text. `atOrigin`: the piece starts at the very start of the input
/// (what Metaspace's `first` prepend scheme asks).
struct TextPiece {
    var scalars: [Unicode.Scalar]
    var atOrigin: Bool
}

/// What a split does with the delimiters it finds (Rust `SplitDelimiterBehavior`).
enum SplitBehavior: String, Sendable {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
}

/// Metaspace's prepend scheme.
enum PrependScheme: String, Sendable {
    case always, first, never
}

/// A pre-tokenizer of `tokenizer.json`, as the Rust `tokenizers` library runs it (pre_tokenizers/*.rs).
indirect enum PreTokenizer: Sendable {
    /// Split on whitespace (removed) and punctuation (each mark a piece).
    case bert
    /// GPT-2's: optional prefix space, the GPT-2 regex (hand-coded), bytes mapped to printable chars.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)
    /// `\w+|[^\w\s]+`.
    case whitespace
    /// Split on whitespace, removed.
    case whitespaceSplit
    case punctuation(SplitBehavior)
    case digits(individual: Bool)
    case split(TextPattern, SplitBehavior, invert: Bool)
    case sequence([PreTokenizer])

    func preTokenize(_ pieces: [TextPiece]) -> [TextPiece] {
        var out: [TextPiece] = []
        out.reserveCapacity(pieces.count * 4)
        switch self {
        case .sequence(let steps):
            return steps.reduce(pieces) { $1.preTokenize($0) }
        case .byteLevel(let addPrefixSpace, let useRegex):
            for piece in pieces {
                var scalars = piece.scalars
                if addPrefixSpace && scalars.first != " " { scalars.insert(" ", at: 0) }
                let parts = useRegex ? Self.split(scalars, ByteLevelRegex.matches(in: scalars), .isolated)
                    : [0..<scalars.count]
                for (index, range) in parts.enumerated() where !range.isEmpty {
                    out.append(TextPiece(scalars: ByteLevelAlphabet.map(scalars[range]),
                                         atOrigin: piece.atOrigin && index == 0))
                }
            }
            return out
        default:
            for piece in pieces {
                var scalars = piece.scalars
                let parts: [Range<Int>]
                switch self {
                case .bert:
                    let classes = CharacterClasses.shared
                    // Whitespace removed, then punctuation isolated (two splits, as the reference).
                    let words = Self.split(scalars, Self.charMatches(scalars) { classes.flags($0.value).contains(.whitespace) },
                                           .removed)
                    var result: [Range<Int>] = []
                    for word in words {
                        let sub = Array(scalars[word])
                        for range in Self.split(sub, Self.charMatches(sub) { classes.flags($0.value).contains(.punctuation) },
                                                .isolated) {
                            result.append((range.lowerBound + word.lowerBound)..<(range.upperBound + word.lowerBound))
                        }
                    }
                    parts = result
                case .metaspace(let replacement, let scheme, let split):
                    scalars = scalars.map { $0 == " " ? replacement : $0 }
                    switch scheme {
                    case .always: if scalars.first != replacement { scalars.insert(replacement, at: 0) }
                    case .first: if scalars.first != replacement && piece.atOrigin { scalars.insert(replacement, at: 0) }
                    case .never: break
                    }
                    parts = split ? Self.split(scalars, Self.charMatches(scalars) { $0 == replacement }, .mergedWithNext)
                        : [0..<scalars.count]
                case .whitespace:
                    parts = Self.split(scalars, Self.wordRuns(scalars), .removed, invert: true)
                case .whitespaceSplit:
                    let classes = CharacterClasses.shared
                    parts = Self.split(scalars, Self.charMatches(scalars) { classes.flags($0.value).contains(.whitespace) },
                                       .removed)
                case .punctuation(let behavior):
                    let classes = CharacterClasses.shared
                    parts = Self.split(scalars, Self.charMatches(scalars) { classes.flags($0.value).contains(.punctuation) },
                                       behavior)
                case .digits(let individual):
                    parts = Self.split(scalars, Self.charMatches(scalars) { UnicodeProperties.isNumeric($0) },
                                       individual ? .isolated : .contiguous)
                case .split(let pattern, let behavior, let invert):
                    parts = Self.split(scalars, pattern.matches(in: scalars), behavior, invert: invert)
                case .byteLevel, .sequence:
                    preconditionFailure("handled above")
                }
                for (index, range) in parts.enumerated() where !range.isEmpty {
                    out.append(TextPiece(scalars: Array(scalars[range]), atOrigin: piece.atOrigin && index == 0
                                         && range.lowerBound == 0))
                }
            }
            return out
        }
    }

    /// Each scalar for which `isMatch` holds, as a one-scalar match.
    static func charMatches(_ scalars: [Unicode.Scalar], _ isMatch: (Unicode.Scalar) -> Bool) -> [Range<Int>] {
        var result: [Range<Int>] = []
        for (index, scalar) in scalars.enumerated() where isMatch(scalar) { result.append(index..<(index + 1)) }
        return result
    }

    /// The matches of `\w+|[^\w\s]+` (the Whitespace pre-tokenizer's regex).
    static func wordRuns(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if UnicodeProperties.isWhitespace(scalar) {
                index += 1
                continue
            }
            let word = UnicodeProperties.isWordCharacter(scalar)
            var end = index + 1
            while end < scalars.count, !UnicodeProperties.isWhitespace(scalars[end]),
                  UnicodeProperties.isWordCharacter(scalars[end]) == word {
                end += 1
            }
            result.append(index..<end)
            index = end
        }
        return result
    }

    /// Rust `NormalizedString::split`: the text cut by the matches (sorted, non-overlapping),
    /// each delimiter handled by `behavior`; `invert` swaps what counts as the delimiter.
    /// Returns the ranges kept, empty ones included (callers drop them).
    static func split(_ scalars: [Unicode.Scalar], _ matches: [Range<Int>], _ behavior: SplitBehavior,
                      invert: Bool = false) -> [Range<Int>] {
        if scalars.isEmpty { return [] }
        // The whole text as alternating (range, isMatch) runs.
        var runs: [(range: Range<Int>, isMatch: Bool)] = []
        var previous = 0
        for match in matches {
            if previous < match.lowerBound { runs.append((previous..<match.lowerBound, invert)) }
            runs.append((match, !invert))
            previous = match.upperBound
        }
        if previous < scalars.count { runs.append((previous..<scalars.count, invert)) }

        var kept: [(range: Range<Int>, remove: Bool)] = []
        switch behavior {
        case .isolated:
            kept = runs.map { ($0.range, false) }
        case .removed:
            kept = runs.map { ($0.range, $0.isMatch) }
        case .contiguous:
            var previousMatch = false
            for run in runs {
                if run.isMatch == previousMatch, let last = kept.last {
                    kept[kept.count - 1].range = last.range.lowerBound..<run.range.upperBound
                } else {
                    kept.append((run.range, false))
                }
                previousMatch = run.isMatch
            }
        case .mergedWithPrevious:
            var previousMatch = false
            for run in runs {
                if run.isMatch && !previousMatch, let last = kept.last {
                    kept[kept.count - 1].range = last.range.lowerBound..<run.range.upperBound
                } else {
                    kept.append((run.range, false))
                }
                previousMatch = run.isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            for run in runs.reversed() {
                if run.isMatch && !previousMatch, let last = kept.last {
                    kept[kept.count - 1].range = run.range.lowerBound..<last.range.upperBound
                } else {
                    kept.append((run.range, false))
                }
                previousMatch = run.isMatch
            }
            kept.reverse()
        }
        return kept.filter { !$0.remove }.map(\.range)
    }
}

/// The Unicode properties the pre-tokenizers and added tokens ask about, from the tables
/// measured on the reference library (`UnicodeTables`), never the platform's Unicode data.
enum UnicodeProperties {
    /// Rust `char::is_whitespace`, also Oniguruma's and the regex crate's `\s`: White_Space.
    @inline(__always)
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        CharacterClasses.shared.flags(scalar.value).contains(.whitespace)
    }

    /// `\p{L}` of the ByteLevel regex.
    @inline(__always)
    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        CharacterClasses.shared.flags(scalar.value).contains(.letter)
    }

    /// `\p{N}` of the ByteLevel regex.
    @inline(__always)
    static func isNumber(_ scalar: Unicode.Scalar) -> Bool {
        CharacterClasses.shared.flags(scalar.value).contains(.number)
    }

    /// Rust `char::is_numeric` (Nd, Nl, No).
    @inline(__always)
    static func isNumeric(_ scalar: Unicode.Scalar) -> Bool {
        CharacterClasses.shared.flags(scalar.value).contains(.numeric)
    }

    /// Rust regex `\w`: Alphabetic, marks, decimal numbers, connector punctuation, Join_Control.
    @inline(__always)
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        CharacterClasses.shared.flags(scalar.value).contains(.word)
    }
}

/// GPT-2's byte-to-character table: printable bytes stand for themselves, the others are shifted
/// to U+0100 and up, so every byte is a visible character of a BPE vocabulary.
enum ByteLevelAlphabet {
    static let characters: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte a character of the table stands for.
    static let bytes: [Unicode.Scalar: UInt8] = Dictionary(uniqueKeysWithValues: characters.enumerated().map {
        ($0.element, UInt8($0.offset))
    })

    static func byte(of scalar: Unicode.Scalar) -> UInt8? { bytes[scalar] }

    static func map(_ scalars: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count * 2)
        for scalar in scalars {
            for byte in String(scalar).utf8 { out.append(characters[Int(byte)]) }
        }
        return out
    }
}

/// GPT-2's pre-tokenizer regex, hand-coded:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
enum ByteLevelRegex {
    static func matches(in text: [Unicode.Scalar]) -> [Range<Int>] {
        var result: [Range<Int>] = []
        let count = text.count
        var index = 0
        @inline(__always) func isOther(_ scalar: Unicode.Scalar) -> Bool {
            !UnicodeProperties.isWhitespace(scalar) && !UnicodeProperties.isLetter(scalar) && !UnicodeProperties.isNumber(scalar)
        }
        while index < count {
            let scalar = text[index]
            // Contractions.
            if scalar == "'" && index + 1 < count {
                let next = text[index + 1]
                if next == "s" || next == "t" || next == "m" || next == "d" {
                    result.append(index..<(index + 2))
                    index += 2
                    continue
                }
                if index + 2 < count {
                    let third = text[index + 2]
                    if (next == "r" && third == "e") || (next == "v" && third == "e") || (next == "l" && third == "l") {
                        result.append(index..<(index + 3))
                        index += 3
                        continue
                    }
                }
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run of one class.
            var start = index
            if scalar == " " && index + 1 < count && !UnicodeProperties.isWhitespace(text[index + 1]) {
                start = index + 1
            }
            let first = text[start]
            if !UnicodeProperties.isWhitespace(first) {
                let test: (Unicode.Scalar) -> Bool
                if UnicodeProperties.isLetter(first) {
                    test = UnicodeProperties.isLetter
                } else if UnicodeProperties.isNumber(first) {
                    test = UnicodeProperties.isNumber
                } else {
                    test = isOther
                }
                var end = start + 1
                while end < count && test(text[end]) { end += 1 }
                result.append(index..<end)
                index = end
                continue
            }
            // `\s+(?!\S)|\s+`: a run of whitespace, less its last scalar when a non-space follows
            // and the run is longer than one.
            var end = index + 1
            while end < count && UnicodeProperties.isWhitespace(text[end]) { end += 1 }
            if end < count && end - index > 1 { end -= 1 }
            result.append(index..<end)
            index = end
        }
        return result
    }
}
