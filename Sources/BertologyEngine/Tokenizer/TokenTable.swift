/// Token id lookup by UTF-8 bytes.
///
/// Swift `String` equality and hashing use canonical equivalence ("é" == "e\u{301}"), but the
/// reference compares bytes, and vocabularies can hold both forms as distinct tokens. So tokens
/// are keyed by their exact UTF-8 bytes in an open-addressing table. A second table holds the
/// continuation pieces ("##foo") keyed without their "##", so WordPiece looks up a piece in the
/// middle of a word without building the prefixed string.
final class TokenTable: @unchecked Sendable {
    // Immutable after init.
    private let bytes: UnsafeMutablePointer<UInt8>
    /// Token i is bytes[starts[i] ..< starts[i + 1]].
    private let starts: UnsafeMutablePointer<Int32>
    /// Slots hold a token id, or -1 when empty. Capacity is a power of two, at most half full.
    private let wholeSlots: UnsafeMutablePointer<Int32>
    private let continuationSlots: UnsafeMutablePointer<Int32>
    private let slotMask: Int
    let count: Int
    /// Longest token in bytes, and longest continuation piece without its "##": WordPiece never
    /// needs to try a longer candidate.
    let longestWhole: Int
    let longestContinuation: Int

    static let continuationPrefix: [UInt8] = Array("##".utf8)

    /// Builds the table, or returns the index of the first token that repeats an earlier one
    /// (byte for byte) together with that earlier index.
    static func build(_ tokens: [String]) -> Result<TokenTable, DuplicateToken> {
        let table = TokenTable(tokens)
        if let duplicate = table.firstDuplicate { return .failure(duplicate) }
        return .success(table)
    }

    struct DuplicateToken: Error {
        let index: Int
        let firstIndex: Int
    }

    private var firstDuplicate: DuplicateToken?

    private init(_ tokens: [String]) {
        count = tokens.count
        let totalBytes = tokens.reduce(0) { $0 + $1.utf8.count }
        bytes = .allocate(capacity: max(totalBytes, 1))
        starts = .allocate(capacity: tokens.count + 1)
        var offset = 0
        var longestWhole = 0
        var longestContinuation = 0
        for (index, token) in tokens.enumerated() {
            starts[index] = Int32(offset)
            for byte in token.utf8 {
                bytes[offset] = byte
                offset += 1
            }
            let length = offset - Int(starts[index])
            longestWhole = max(longestWhole, length)
            if Self.hasContinuationPrefix(bytes + Int(starts[index]), length) {
                longestContinuation = max(longestContinuation, length - 2)
            }
        }
        starts[tokens.count] = Int32(offset)
        self.longestWhole = longestWhole
        self.longestContinuation = longestContinuation

        var capacity = 16
        while capacity < tokens.count * 2 { capacity <<= 1 }
        slotMask = capacity - 1
        wholeSlots = .allocate(capacity: capacity)
        wholeSlots.initialize(repeating: -1, count: capacity)
        continuationSlots = .allocate(capacity: capacity)
        continuationSlots.initialize(repeating: -1, count: capacity)

        for index in 0..<tokens.count {
            let start = bytes + Int(starts[index])
            let length = Int(starts[index + 1] - starts[index])
            if let existing = insert(index, key: start, length: length, into: wholeSlots, skip: 0) {
                if firstDuplicate == nil { firstDuplicate = DuplicateToken(index: index, firstIndex: existing) }
                continue
            }
            if Self.hasContinuationPrefix(start, length) {
                _ = insert(index, key: start + 2, length: length - 2, into: continuationSlots, skip: 2)
            }
        }
    }

    deinit {
        bytes.deallocate()
        starts.deallocate()
        wholeSlots.deallocate()
        continuationSlots.deallocate()
    }

    /// The id of the token whose UTF-8 is exactly `key[0..<length]`.
    @inline(__always)
    func id(whole key: UnsafePointer<UInt8>, length: Int) -> Int32? {
        find(key, length, in: wholeSlots, skip: 0)
    }

    /// The id of the token "##" followed by exactly `key[0..<length]`.
    @inline(__always)
    func id(continuation key: UnsafePointer<UInt8>, length: Int) -> Int32? {
        find(key, length, in: continuationSlots, skip: 2)
    }

    func id(for token: String) -> Int32? {
        var token = token
        return token.withUTF8 { buffer in
            guard let base = buffer.baseAddress else {
                var nothing: UInt8 = 0  // an empty key reads no byte, but needs an address
                return withUnsafePointer(to: &nothing) { find($0, 0, in: wholeSlots, skip: 0) }
            }
            return find(base, buffer.count, in: wholeSlots, skip: 0)
        }
    }

    // MARK: - Implementation

    private static func hasContinuationPrefix(_ start: UnsafePointer<UInt8>, _ length: Int) -> Bool {
        length >= 2 && start[0] == UInt8(ascii: "#") && start[1] == UInt8(ascii: "#")
    }

    /// FNV-1a, 64-bit: short keys (word pieces are a few bytes), cheap and well spread.
    @inline(__always)
    private static func hash(_ key: UnsafePointer<UInt8>, _ length: Int) -> Int {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for index in 0..<length {
            hash = (hash ^ UInt64(key[index])) &* 0x0000_0100_0000_01B3
        }
        return Int(truncatingIfNeeded: hash ^ (hash >> 29))
    }

    /// Does token `id`, without its first `skip` bytes, equal the key?
    @inline(__always)
    private func matches(_ id: Int32, _ key: UnsafePointer<UInt8>, _ length: Int, skip: Int) -> Bool {
        let start = Int(starts[Int(id)]) + skip
        guard Int(starts[Int(id) + 1]) - start == length else { return false }
        let stored = bytes + start
        for index in 0..<length where stored[index] != key[index] { return false }
        return true
    }

    @inline(__always)
    private func find(_ key: UnsafePointer<UInt8>, _ length: Int, in slots: UnsafeMutablePointer<Int32>,
                      skip: Int) -> Int32? {
        var slot = Self.hash(key, length) & slotMask
        while true {
            let id = slots[slot]
            if id < 0 { return nil }
            if matches(id, key, length, skip: skip) { return id }
            slot = (slot + 1) & slotMask
        }
    }

    /// Inserts `id` under the key; returns the id already stored under an equal key, if any.
    private func insert(_ id: Int, key: UnsafePointer<UInt8>, length: Int, into slots: UnsafeMutablePointer<Int32>,
                        skip: Int) -> Int? {
        var slot = Self.hash(key, length) & slotMask
        while true {
            let existing = slots[slot]
            if existing < 0 {
                slots[slot] = Int32(id)
                return nil
            }
            if matches(existing, key, length, skip: skip) { return Int(existing) }
            slot = (slot + 1) & slotMask
        }
    }
}
