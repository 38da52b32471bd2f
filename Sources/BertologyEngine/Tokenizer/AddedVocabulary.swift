/// A token of `tokenizer.json`'s `added_tokens`: matched in the text before the model runs, and
/// never split.
struct AddedToken: Sendable {
    let id: Int32
    let content: String
    /// Matched only where it is a whole word (no `\w` character touches it).
    let singleWord: Bool
    /// The whitespace on its left (`lstrip`) or right (`rstrip`) is part of the match.
    let lstrip: Bool
    let rstrip: Bool
    /// Matched in the normalized text (true) or in the raw text (false).
    let normalized: Bool
    /// A special token (`skip_special_tokens` drops it; the analyses treat it as special).
    let special: Bool
}

/// Finds added tokens in text as the reference's `AddedVocabulary` does: the non-normalized
/// tokens in the raw text first, then, after each remaining stretch is normalized, the normalized
/// ones in it (their pattern being their normalized content). Matching is leftmost-longest and
/// non-overlapping (an Aho-Corasick automaton in the reference); a `single_word` match that
/// touches a word character is dropped, `lstrip`/`rstrip` extend a match over the whitespace
/// beside it (not past the previous match).
struct AddedTokenMatcher: Sendable {
    private let patterns: [(scalars: [Unicode.Scalar], token: AddedToken)]
    /// Patterns by first scalar, longest first.
    private let byFirst: [Unicode.Scalar: [Int]]

    init(_ patterns: [(scalars: [Unicode.Scalar], token: AddedToken)]) {
        let kept = patterns.filter { !$0.scalars.isEmpty }
        var byFirst: [Unicode.Scalar: [Int]] = [:]
        for (index, pattern) in kept.enumerated() { byFirst[pattern.scalars[0], default: []].append(index) }
        for key in byFirst.keys {
            byFirst[key]!.sort { kept[$0].scalars.count > kept[$1].scalars.count }
        }
        self.patterns = kept
        self.byFirst = byFirst
    }

    var isEmpty: Bool { patterns.isEmpty }

    /// The text cut into stretches: (range, added token id or nil for ordinary text).
    func split(_ text: [Unicode.Scalar]) -> [(range: Range<Int>, id: Int32?)] {
        if text.isEmpty { return [(0..<0, nil)] }
        if patterns.isEmpty { return [(0..<text.count, nil)] }
        // Leftmost-longest, non-overlapping matches.
        var found: [(range: Range<Int>, token: AddedToken)] = []
        var position = 0
        while position < text.count {
            var matched: (Range<Int>, AddedToken)?
            if let candidates = byFirst[text[position]] {
                for index in candidates {
                    let pattern = patterns[index].scalars
                    if position + pattern.count <= text.count
                        && text[position..<(position + pattern.count)].elementsEqual(pattern) {
                        matched = (position..<(position + pattern.count), patterns[index].token)
                        break
                    }
                }
            }
            if let (range, token) = matched {
                found.append((range, token))
                position = range.upperBound
            } else {
                position += 1
            }
        }
        var result: [(range: Range<Int>, id: Int32?)] = []
        var startOffset = 0
        for (range, token) in found {
            var start = range.lowerBound
            var stop = range.upperBound
            if token.singleWord {
                let startSpace = start == 0 || !UnicodeProperties.isWordCharacter(text[start - 1])
                let stopSpace = stop == text.count || !UnicodeProperties.isWordCharacter(text[stop])
                if !startSpace || !stopSpace { continue }
            }
            if token.lstrip {
                var newStart = start
                while newStart > 0 && UnicodeProperties.isWhitespace(text[newStart - 1]) { newStart -= 1 }
                start = max(newStart, startOffset)
            }
            if token.rstrip {
                while stop < text.count && UnicodeProperties.isWhitespace(text[stop]) { stop += 1 }
            }
            if startOffset < start { result.append((startOffset..<start, nil)) }
            result.append((start..<stop, token.id))
            startOffset = stop
        }
        if startOffset != text.count { result.append((startOffset..<text.count, nil)) }
        return result
    }
}
