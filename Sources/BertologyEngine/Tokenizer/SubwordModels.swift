/// BPE as the Rust reference runs it (models/bpe): each scalar of the piece becomes a symbol
/// (with `continuing_subword_prefix` after the first, `end_of_word_suffix` on the last; unknown
/// ones as `<0xXX>` byte tokens with `byte_fallback`, else `unk`, consecutive unknowns fused when
/// `fuse_unk`), then the pair with the lowest merge rank (the leftmost among equal ranks) is merged
/// until no pair has a merge. With `ignore_merges`, a piece that is a whole token is that token.
struct BytePairModel: Sendable {
    let table: TokenTable
    /// (left id, right id) -> (rank, merged id).
    let merges: [UInt64: (rank: Int32, id: Int32)]
    let unknownId: Int32?
    let continuingSubwordPrefix: [Unicode.Scalar]
    let endOfWordSuffix: [Unicode.Scalar]
    let fuseUnknown: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool

    @inline(__always)
    static func key(_ left: Int32, _ right: Int32) -> UInt64 { UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right)) }

    func id(of scalars: [Unicode.Scalar]) -> Int32? {
        table.id(for: String(String.UnicodeScalarView(scalars)))
    }

    func appendPieces(of piece: [Unicode.Scalar], to ids: inout [Int32]) -> Int {
        if piece.isEmpty { return 0 }
        if ignoreMerges, let id = id(of: piece) {
            ids.append(id)
            return 1
        }
        var symbols: [Int32] = []
        symbols.reserveCapacity(piece.count)
        var pendingUnknown = false
        for (index, scalar) in piece.enumerated() {
            var text: [Unicode.Scalar] = []
            if index > 0 { text.append(contentsOf: continuingSubwordPrefix) }
            text.append(scalar)
            if index == piece.count - 1 { text.append(contentsOf: endOfWordSuffix) }
            if let id = id(of: text) {
                if pendingUnknown, let unknownId { symbols.append(unknownId) }
                pendingUnknown = false
                symbols.append(id)
                continue
            }
            if byteFallback {
                let bytes = Array(String(String.UnicodeScalarView(text)).utf8)
                let byteIds = bytes.map { table.id(for: ByteFallback.name($0)) }
                if byteIds.allSatisfy({ $0 != nil }) {
                    // The reference adds them without flushing a pending unknown first.
                    symbols.append(contentsOf: byteIds.map { $0! })
                    continue
                }
            }
            if let unknownId {
                if pendingUnknown && !fuseUnknown { symbols.append(unknownId) }
                pendingUnknown = true
            }
        }
        if pendingUnknown, let unknownId { symbols.append(unknownId) }

        // Merge: lowest rank first, leftmost among equal ranks.
        while symbols.count > 1 {
            var best = -1
            var bestRank = Int32.max
            var bestId: Int32 = 0
            for index in 0..<(symbols.count - 1) {
                if let merge = merges[Self.key(symbols[index], symbols[index + 1])], merge.rank < bestRank {
                    best = index
                    bestRank = merge.rank
                    bestId = merge.id
                }
            }
            if best < 0 { break }
            symbols[best] = bestId
            symbols.remove(at: best + 1)
        }
        ids.append(contentsOf: symbols)
        return symbols.count
    }
}

enum ByteFallback {
    static let names: [String] = (0..<256).map { byte in
        let hex = String(byte, radix: 16, uppercase: true)
        return "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
    }
    static func name(_ byte: UInt8) -> String { names[Int(byte)] }
}

/// Unigram as the Rust reference runs it (models/unigram, `encode_optimized`): Viterbi over the
/// UTF-8 of the piece, candidates at each position being the vocabulary tokens that start there
/// (shortest first; a later candidate replaces the best only when strictly better), plus the
/// unknown token for one scalar (score: lowest score - 10) when no one-scalar token starts there.
/// Consecutive unknowns are fused into one string, then each string is looked up (byte fallback,
/// else the unknown id).
struct UnigramModel: Sendable {
    let table: TokenTable
    let scores: [Double]
    let unknownId: Int32?
    let byteFallback: Bool
    let unknownScore: Double

    init(table: TokenTable, scores: [Double], unknownId: Int32?, byteFallback: Bool) {
        self.table = table
        self.scores = scores
        self.unknownId = unknownId
        self.byteFallback = byteFallback
        unknownScore = (scores.min() ?? 0) - 10
    }

    func appendPieces(of piece: [Unicode.Scalar], to ids: inout [Int32]) -> Int {
        let bytes = Array(String(String.UnicodeScalarView(piece)).utf8)
        let size = bytes.count
        if size == 0 { return 0 }
        var bestScore = [Double](repeating: 0, count: size + 1)
        var bestStart = [Int](repeating: -1, count: size + 1)
        var bestId = [Int32](repeating: 0, count: size + 1)
        let longest = table.longestWhole
        bytes.withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress!
            var start = 0
            while start < size {
                let scoreHere = bestScore[start]
                let lead = buffer[start]
                let scalarLength = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
                var hasSingle = false
                var end = start + 1
                while end <= min(size, start + longest) {
                    if end < size && buffer[end] & 0xC0 == 0x80 {
                        end += 1
                        continue
                    }
                    if let id = table.id(whole: base + start, length: end - start) {
                        let candidate = scores[Int(id)] + scoreHere
                        if bestStart[end] < 0 || candidate > bestScore[end] {
                            bestScore[end] = candidate
                            bestStart[end] = start
                            bestId[end] = id
                        }
                        if end - start == scalarLength { hasSingle = true }
                    }
                    end += 1
                }
                if !hasSingle {
                    let target = start + scalarLength
                    let candidate = unknownScore + scoreHere
                    if bestStart[target] < 0 || candidate > bestScore[target] {
                        bestScore[target] = candidate
                        bestStart[target] = start
                        bestId[target] = -1
                    }
                }
                start += scalarLength
            }
        }
        // Back from the end; consecutive unknowns fused.
        var pieces: [(range: Range<Int>, unknown: Bool)] = []
        var end = size
        while end > 0 {
            let start = bestStart[end]
            let unknown = bestId[end] < 0 || bestId[end] == unknownId
            if unknown, let last = pieces.last, last.unknown {
                pieces[pieces.count - 1].range = start..<last.range.upperBound
            } else {
                pieces.append((start..<end, unknown))
            }
            end = start
        }
        let first = ids.count
        bytes.withUnsafeBufferPointer { buffer in
            for piece in pieces.reversed() {
                if let id = table.id(whole: buffer.baseAddress! + piece.range.lowerBound, length: piece.range.count) {
                    ids.append(id)
                    continue
                }
                if byteFallback {
                    let byteIds = buffer[piece.range].map { table.id(for: ByteFallback.name($0)) }
                    if byteIds.allSatisfy({ $0 != nil }) {
                        ids.append(contentsOf: byteIds.map { $0! })
                        continue
                    }
                }
                ids.append(unknownId ?? 0)
            }
        }
        return ids.count - first
    }
}
