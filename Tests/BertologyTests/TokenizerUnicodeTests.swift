import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// The generated Unicode tables (tools/reference/unicode_tables.py) against the platform: where
/// Swift's Unicode data disagrees with the Rust crates, the tokenizer follows the crates. The
/// hard-strings fixture checks the same scalars end to end through the reference tokenizer.
@Suite struct TokenizerUnicodeTests {
    let classes = CharacterClasses.shared

    /// The ASCII fast path assumes ASCII lower-cases to ASCII by +32 for A-Z only, and never
    /// decomposes, is never a mark, never CJK.
    @Test func asciiFastPathAgreesWithTheTables() {
        for byte in UInt32(0)..<128 {
            let flags = classes.flags(byte)
            #expect(flags.contains(.lowercases) == (65...90).contains(byte), "U+\(byte)")
            if flags.contains(.lowercases) {
                var lower: [UInt32] = []
                classes.forEachInLowercase(of: byte) { lower.append($0) }
                #expect(lower == [byte + 32])
            }
            #expect(!flags.contains(.decomposes) && !flags.contains(.combining) && !flags.contains(.nonspacing)
                        && !flags.contains(.chinese))
        }
    }

    /// Scalars where Swift 6.3's Unicode data and the reference disagree (found by comparing the
    /// tables with `Unicode.Scalar.Properties` and Foundation's NFD on every scalar). The
    /// reference's answer is what counts.
    @Test func referenceWinsWhereSwiftDiffers() {
        // Punctuation: U+166D became So in Unicode 12 (the crate still has Po); U+2E43 and U+061D
        // are newer than the crate's tables.
        #expect(classes.flags(0x166D).contains(.punctuation))
        #expect(!classes.flags(0x2E43).contains(.punctuation))
        #expect(!classes.flags(0x061D).contains(.punctuation))
        // Format characters newer than the crate are kept, not removed by cleaning.
        for scalar: UInt32 in [0x08E2, 0x110CD, 0x13430] { #expect(!classes.flags(scalar).contains(.drop)) }
        // Nonspacing marks newer than the crate survive accent stripping, and have no combining class.
        for scalar: UInt32 in [0x07FD, 0x0897, 0x0C3C, 0x1ABF] {
            #expect(!classes.flags(scalar).contains(.nonspacing) && !classes.flags(scalar).contains(.combining))
        }
        // Dives Akuru U+11938 decomposes since Unicode 13, but not in unicode-normalization-alignments.
        #expect(!classes.flags(0x11938).contains(.decomposes))
        // Where they agree: the old and the new data both make U+0301 a class-230 nonspacing mark.
        #expect(classes.flags(0x0301).contains(.nonspacing) && classes.combiningClass(0x0301) == 230)
    }

    @Test func cleaningAndSplittingClasses() {
        #expect(classes.flags(0x00).contains(.drop) && classes.flags(0xFFFD).contains(.drop))
        #expect(classes.flags(0xFEFF).contains(.drop) && classes.flags(0x200B).contains(.drop))
        #expect(classes.flags(0xE000).contains(.drop))  // private use
        #expect(!classes.flags(0x0378).contains(.drop))  // unassigned: kept (the crate checks no Cn)
        // Controls that are also whitespace are removed, not turned into spaces (filter runs first).
        #expect(classes.flags(0x0B).contains(.drop) && classes.flags(0x85).contains(.drop))
        #expect(classes.flags(0x2028).contains(.cleanSpace) && classes.flags(0x3000).contains(.cleanSpace))
        #expect(classes.flags(0x4E00).contains(.chinese) && !classes.flags(0x2B820).contains(.chinese))
    }

    @Test func decompositionsAndLowercase() {
        func decomposition(_ scalar: UInt32) -> [UInt32] {
            var parts: [UInt32] = []
            classes.forEachInDecomposition(of: scalar) { parts.append($0) }
            return parts
        }
        func lowercase(_ scalar: UInt32) -> [UInt32] {
            var parts: [UInt32] = []
            classes.forEachInLowercase(of: scalar) { parts.append($0) }
            return parts
        }
        #expect(decomposition(0xE9) == [0x65, 0x301])
        #expect(decomposition(0x1F82) == [0x3B1, 0x313, 0x300, 0x345])
        #expect(decomposition(0xAC01) == [0x1100, 0x1161, 0x11A8])  // Hangul by arithmetic
        #expect(decomposition(0xF900) == [0x8C48])  // CJK compatibility ideograph
        #expect(lowercase(0x130) == [0x69, 0x307])  // İ: full mapping
        #expect(lowercase(0x1E9E) == [0xDF])  // ẞ
        #expect(lowercase(0x3A3) == [0x3C3])  // Σ: always σ, never the final ς
        #expect(!classes.flags(0xDF).contains(.lowercases))
    }

    /// Bounds of the Rust truncation rule for every small case.
    @Test func truncatedLengthsRespectMaxLength() {
        for first in 0...12 {
            for second in 0...12 {
                for maxLength in 0...30 {
                    let (a, b) = BertTokenizer.truncatedLengths(first, second, maxLength: maxLength)
                    #expect(a <= first && b <= second)
                    if maxLength < 3 {
                        #expect(a == first && b == second)  // the reference does not truncate
                    } else {
                        #expect(a + b <= maxLength - 3)
                        #expect(a + b == min(first + second, maxLength - 3))
                    }
                }
                let (a, b) = BertTokenizer.truncatedLengths(first, nil, maxLength: 7)
                #expect(a == min(first, 5) && b == 0)
            }
        }
    }
}
