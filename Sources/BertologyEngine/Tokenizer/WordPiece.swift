/// WordPiece as the Rust reference runs it: greedy longest-match-first from the start of the
/// word, later pieces looked up with the "##" prefix; a word with a piece that matches nothing, or
/// longer than `maxInputCharsPerWord` scalars, becomes the single unknown token.
struct WordPiece: Sendable {
    /// `max_input_chars_per_word` of the reference, counted in Unicode scalars (Rust chars).
    static let defaultMaxInputCharsPerWord = 100

    let table: TokenTable
    let unknownId: Int32
    var maxInputCharsPerWord = WordPiece.defaultMaxInputCharsPerWord

    /// Appends the ids of the pieces of `word` (normalized UTF-8) and returns how many.
    @inline(__always)
    func appendPieces(of word: UnsafePointer<UInt8>, length: Int, to ids: inout [Int32]) -> Int {
        var scalars = 0
        for index in 0..<length where word[index] & 0xC0 != 0x80 { scalars += 1 }
        if scalars > maxInputCharsPerWord {
            ids.append(unknownId)
            return 1
        }
        let first = ids.count
        var start = 0
        while start < length {
            let isContinuation = start > 0
            // No token is longer than the longest in the vocabulary: start the search there.
            var end = min(length, start + (isContinuation ? table.longestContinuation : table.longestWhole))
            while end < length && end > start && word[end] & 0xC0 == 0x80 { end -= 1 }
            var found: Int32 = -1
            while end > start {
                let piece = word + start
                if let id = isContinuation ? table.id(continuation: piece, length: end - start)
                    : table.id(whole: piece, length: end - start) {
                    found = id
                    break
                }
                end -= 1  // one scalar shorter
                while end > start && word[end] & 0xC0 == 0x80 { end -= 1 }
            }
            if found < 0 {
                ids.removeSubrange(first...)
                ids.append(unknownId)
                return 1
            }
            ids.append(found)
            start = end
        }
        return ids.count - first
    }
}
