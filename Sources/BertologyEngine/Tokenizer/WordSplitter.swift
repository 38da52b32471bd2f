/// The Rust reference's `BertNormalizer` followed by its `BertPreTokenizer`, fused into one pass
/// over the UTF-8 of a stretch of text (the text between two special tokens):
///
/// 1. clean: drop NUL, U+FFFD and control/format/private-use scalars; whitespace becomes U+0020;
/// 2. CJK ideographs get a space on each side;
/// 3. strip accents (when asked): NFD of the whole stretch, then nonspacing marks removed;
/// 4. lower-case, scalar by scalar (Rust `char::to_lowercase`);
/// 5. split on whitespace (removed) and around punctuation (each mark a word of its own).
///
/// The steps run in that order for each scalar; only step 3 looks across scalars (NFD puts runs
/// of combining marks in canonical order), which `pendingMarks` handles. Character classes come
/// from `CharacterClasses` (the reference's Unicode data). ASCII takes a table-driven fast path.
///
/// The words are written back to back into `bytes` (normalized UTF-8) and listed in `words`.
struct WordSplitter {
    struct Word {
        /// The word is bytes[start..<end]; a special token has no bytes.
        var start: Int32
        var end: Int32
        /// The id of a special token matched in the raw text, or -1 for a normal word.
        var specialId: Int32
    }

    private(set) var bytes: [UInt8] = []
    private(set) var words: [Word] = []

    private let lowercase: Bool
    private let stripAccents: Bool
    private let separateChinese: Bool
    private let classes = CharacterClasses.shared
    private var wordStart = 0
    /// Combining marks (class != 0) waiting for the end of their run to be put in canonical order;
    /// only non-removed ones (nonspacing marks are dropped at once: removing them does not change
    /// the relative order of the rest).
    private var pendingMarks: [(scalar: UInt32, combiningClass: UInt8)] = []

    init(options: TokenizerOptions, capacity: Int) {
        lowercase = options.doLowerCase
        stripAccents = options.stripsAccents
        separateChinese = options.tokenizeChineseChars
        bytes.reserveCapacity(capacity + 16)
        words.reserveCapacity(capacity / 3 + 4)
    }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        words.removeAll(keepingCapacity: true)
        wordStart = 0
    }

    mutating func appendSpecial(id: Int32) {
        words.append(Word(start: Int32(bytes.count), end: Int32(bytes.count), specialId: id))
    }

    /// Normalizes and splits `text`, valid UTF-8 with no special token in it.
    mutating func appendText(_ text: UnsafeBufferPointer<UInt8>) {
        wordStart = bytes.count
        let count = text.count
        var index = 0
        while index < count {
            let lead = text[index]
            if lead < 0x80 {
                if classes.asciiKind(lead) == .word {
                    // A run of ASCII word characters (most of English text) is copied at once.
                    var end = index + 1
                    while end < count && text[end] < 0x80 && classes.asciiKind(text[end]) == .word { end += 1 }
                    appendASCIIWord(UnsafeBufferPointer(rebasing: text[index..<end]))
                    index = end
                } else {
                    appendASCII(lead)
                    index += 1
                }
                continue
            }
            // Valid UTF-8 (it comes from a Swift String): decode without checks.
            let scalar: UInt32
            if lead < 0xE0 {
                scalar = UInt32(lead & 0x1F) << 6 | UInt32(text[index + 1] & 0x3F)
                index += 2
            } else if lead < 0xF0 {
                scalar = UInt32(lead & 0x0F) << 12 | UInt32(text[index + 1] & 0x3F) << 6
                    | UInt32(text[index + 2] & 0x3F)
                index += 3
            } else {
                scalar = UInt32(lead & 0x07) << 18 | UInt32(text[index + 1] & 0x3F) << 12
                    | UInt32(text[index + 2] & 0x3F) << 6 | UInt32(text[index + 3] & 0x3F)
                index += 4
            }
            appendCleaning(scalar)
        }
        flushMarks()
        endWord()
    }

    // MARK: - The steps

    /// All five steps for an ASCII byte: ASCII never decomposes, is never a mark nor CJK, and
    /// lower-cases to ASCII.
    @inline(__always)
    private mutating func appendASCII(_ byte: UInt8) {
        switch classes.asciiKind(byte) {
        case .dropped:
            return  // removed before NFD: does not end a run of marks
        case .space:
            flushMarks()
            endWord()
        case .punctuation:
            flushMarks()
            endWord()
            bytes.append(byte)
            endWord()
        case .word:
            flushMarks()
            bytes.append(lowercase && byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte)
        }
    }

    /// All five steps for a run of ASCII bytes of kind `.word` (no cleaning, no split inside).
    @inline(__always)
    private mutating func appendASCIIWord(_ run: UnsafeBufferPointer<UInt8>) {
        flushMarks()
        let start = bytes.count
        bytes.append(contentsOf: run)
        if lowercase {
            bytes.withUnsafeMutableBufferPointer { buffer in
                for index in start..<buffer.count where buffer[index] &- UInt8(ascii: "A") < 26 {
                    buffer[index] |= 0x20
                }
            }
        }
    }

    /// Steps 1 and 2 for a non-ASCII scalar.
    private mutating func appendCleaning(_ scalar: UInt32) {
        let flags = classes.flags(scalar)
        if flags.contains(.drop) { return }
        if flags.contains(.cleanSpace) {
            appendStripping(0x20, classes.flags(0x20))
        } else if separateChinese && flags.contains(.chinese) {
            let spaceFlags = classes.flags(0x20)
            appendStripping(0x20, spaceFlags)
            appendStripping(scalar, flags)
            appendStripping(0x20, spaceFlags)
        } else {
            appendStripping(scalar, flags)
        }
    }

    /// Step 3: NFD, then nonspacing marks removed.
    private mutating func appendStripping(_ scalar: UInt32, _ flags: ScalarFlags) {
        guard stripAccents else {
            appendLowercasing(scalar, flags)
            return
        }
        if flags.contains(.decomposes) {
            classes.forEachInDecomposition(of: scalar) { part in
                appendDecomposed(part, classes.flags(part))
            }
        } else {
            appendDecomposed(scalar, flags)
        }
    }

    private mutating func appendDecomposed(_ scalar: UInt32, _ flags: ScalarFlags) {
        if flags.contains(.combining) {
            if !flags.contains(.nonspacing) {
                pendingMarks.append((scalar, classes.combiningClass(scalar)))
            }
            return
        }
        // A starter (class 0) ends the run of marks before it, even one that is itself removed.
        flushMarks()
        if !flags.contains(.nonspacing) {
            appendLowercasing(scalar, flags)
        }
    }

    /// Emits the pending marks, if any (a starter ends their run).
    @inline(__always)
    private mutating func flushMarks() {
        if !pendingMarks.isEmpty { emitPendingMarks() }
    }

    /// Emits the pending marks in canonical order (a stable sort by combining class).
    @inline(never)
    private mutating func emitPendingMarks() {
        if pendingMarks.count > 1 {
            for index in 1..<pendingMarks.count {
                let mark = pendingMarks[index]
                var position = index
                while position > 0 && pendingMarks[position - 1].combiningClass > mark.combiningClass {
                    pendingMarks[position] = pendingMarks[position - 1]
                    position -= 1
                }
                pendingMarks[position] = mark
            }
        }
        for mark in pendingMarks {
            appendLowercasing(mark.scalar, classes.flags(mark.scalar))
        }
        pendingMarks.removeAll(keepingCapacity: true)
    }

    /// Step 4: lower-case.
    private mutating func appendLowercasing(_ scalar: UInt32, _ flags: ScalarFlags) {
        if lowercase && flags.contains(.lowercases) {
            classes.forEachInLowercase(of: scalar) { lower in
                appendSplitting(lower, classes.flags(lower))
            }
        } else {
            appendSplitting(scalar, flags)
        }
    }

    /// Step 5: split on whitespace and around punctuation.
    private mutating func appendSplitting(_ scalar: UInt32, _ flags: ScalarFlags) {
        if flags.contains(.whitespace) {
            endWord()
        } else if flags.contains(.punctuation) {
            endWord()
            appendUTF8(scalar)
            endWord()
        } else {
            appendUTF8(scalar)
        }
    }

    private mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case ..<0x80:
            bytes.append(UInt8(scalar))
        case ..<0x800:
            bytes.append(UInt8(0xC0 | scalar >> 6))
            bytes.append(UInt8(0x80 | scalar & 0x3F))
        case ..<0x10000:
            bytes.append(UInt8(0xE0 | scalar >> 12))
            bytes.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            bytes.append(UInt8(0x80 | scalar & 0x3F))
        default:
            bytes.append(UInt8(0xF0 | scalar >> 18))
            bytes.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            bytes.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            bytes.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    @inline(__always)
    private mutating func endWord() {
        if bytes.count > wordStart {
            words.append(Word(start: Int32(wordStart), end: Int32(bytes.count), specialId: -1))
            wordStart = bytes.count
        }
    }
}
