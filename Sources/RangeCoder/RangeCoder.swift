// READ ME FIRST — the range coder of vqcodec
//
// What it is. A FIFO range coder (arithmetic coder) in the style of Schindler / Subbotin / LZMA,
// widened to a 64-bit state that is emitted in 32-bit words, with carry propagation into the
// words already written. Each symbol narrows the interval [low, low + range) to the symbol's
// share of it, `range / 2^16` units per frequency unit of its `FrequencyTable`.
//
// Why a range coder and not rANS. rANS encodes in reverse, so the encoder would have to buffer
// every (start, frequency) pair and the tables' lifetimes would leak into the API. This coder
// is first in, first out: the encoder codes each symbol as soon as the prior has its table, and
// the decoder mirrors the encoder step for step, which keeps the pair easy to check. What rANS
// would save (one 64-bit division per decoded symbol) is small next to evaluating the prior.
//
// Surprises, in the order you will meet them:
// 1. The 64-bit `low` overflows: that overflow is a carry into the bytes already written. The
//    encoder keeps its output as 32-bit words and walks back over 0xFFFFFFFF words to add it.
//    The carry can never run off the front of the stream, because the coded number stays below
//    the initial interval's end, 2^64 − 1 (checked in debug builds).
// 2. The last symbol of a table takes the whole rest of the interval, not just
//    `r · frequency`: the truncation `r = range >> 16` would otherwise waste up to
//    `range mod 2^16` per symbol. The decoder clamps its cumulative value to `total − 1` to match.
// 3. One renormalisation step always suffices: range ≥ 2^32 before a symbol, so r ≥ 2^16 and the
//    new range is ≥ r ≥ 2^16; shifting by 32 bits gives ≥ 2^48 ≥ 2^32. (`if`, not `while`.)
// 4. `finish()` writes only as many bytes of the final 64-bit `low` as are needed to identify a
//    number inside the final interval: it picks the number in [low, low + range) with the most
//    trailing zero bytes and leaves those bytes out (0 to 4 bytes are written). An empty stream
//    is therefore 0 bytes long.
// 5. So the decoder reads past the end: it always holds 64 bits, and a stream whose final bytes
//    were left out is read up to 8 bytes beyond its end. The decoder pads with zero words
//    (`RangeDecoder.paddingWords`) and throws `.streamExhausted` when asked for more.
// 6. The decoder works on `code = value − low` rather than on `low` and the value separately,
//    so it never sees a carry. Invariant: code < range. It holds for ANY input whose first 64
//    bits are not all ones (the initial range is 2^64 − 1), which is why random bytes decode to
//    (wrong) symbols or throw, but never trap: every subtraction stays non-negative and every
//    shift stays in range because of it.
//
// Byte format of a stream: the 32-bit words written during coding, each big-endian, then 0 to 4
// bytes of the final word (big-endian, leading bytes only). No header, no length: the container
// records the byte count and the caller knows how many symbols to decode.

/// Encodes symbols under per-symbol `FrequencyTable`s into a byte stream.
///
/// ```swift
/// var encoder = RangeEncoder()
/// for (symbol, table) in zip(symbols, tables) { encoder.encode(symbol: symbol, table: table) }
/// let bytes = encoder.finish()
/// ```
/// The stream costs at most about 4 bytes more than the ideal code length Σ −log2(p) (the flush)
/// plus a relative loss below 2^-16 per symbol from the truncation `range >> 16`.
public struct RangeEncoder: Sendable {
    /// Bits in one output word.
    @usableFromInline static let wordBits: UInt64 = 32
    /// Renormalise when range falls below this: keeps at least 32 bits of precision in range,
    /// hence a relative rounding loss below 2^16 / 2^32 per symbol.
    @usableFromInline static let minRange: UInt64 = 1 << 32

    /// Lower end of the current interval (its low 64 bits; carries go into `words`).
    @usableFromInline var low: UInt64 = 0
    /// Width of the current interval. Invariant between calls: `minRange <= range <= 2^64 − 1`.
    /// Starts at 2^64 − 1, the widest interval a `UInt64` can state.
    @usableFromInline var range: UInt64 = .max
    /// Words already shifted out of `low`, most significant first; still open to carries.
    @usableFromInline var words: [UInt32] = []

    /// An empty encoder. `expectedByteCount` reserves output space up front (optional).
    public init(expectedByteCount: Int = 0) {
        words.reserveCapacity(max(0, expectedByteCount) / 4 + 2)
    }

    /// Bytes written so far; `finish()` adds at most 4 more. For progress reports and size
    /// estimates.
    public var byteCount: Int { words.count * 4 }

    /// Codes `symbol` (in `0 ..< table.symbolCount`) under `table`.
    @inlinable
    public mutating func encode(symbol: Int, table: FrequencyTable) {
        precondition(symbol >= 0 && symbol < table.symbolCount,
                     "symbol \(symbol) outside its table's alphabet 0..<\(table.symbolCount)")
        let (start, end) = table.storage.withUnsafeBufferPointer { ($0[symbol], $0[symbol &+ 1]) }
        encode(start: start, end: end)
    }

    /// Narrows the interval to units `start ..< end` of `FrequencyTable.total`.
    @inlinable
    mutating func encode(start: UInt32, end: UInt32) {
        assert(start < end && end <= FrequencyTable.total)
        assert(range >= Self.minRange)
        // r ≤ 2^48 and start < 2^16, so r · start < 2^64 (likewise r · (end − start)).
        let r = range >> UInt64(FrequencyTable.precisionBits)
        let offset = r &* UInt64(start)
        let (newLow, carry) = low.addingReportingOverflow(offset)
        low = newLow
        if carry { propagateCarry() }
        if end == FrequencyTable.total {
            range &-= offset  // surprise 2: the last symbol takes the rest
        } else {
            range = r &* UInt64(end &- start)
        }
        if range < Self.minRange {  // surprise 3: once is enough
            words.append(UInt32(truncatingIfNeeded: low >> Self.wordBits))
            low <<= Self.wordBits
            range <<= Self.wordBits
        }
        assert(range >= Self.minRange)
    }

    /// Adds one to the number formed by `words` (surprise 1).
    @usableFromInline
    mutating func propagateCarry() {
        var i = words.count - 1
        while i >= 0 && words[i] == .max {
            words[i] = 0
            i -= 1
        }
        // The coded number stays below 2^64 − 1 in units of the first word's weight, so a carry
        // always finds a word to stop in.
        precondition(i >= 0, "range coder carry ran off the front of the stream")
        words[i] &+= 1
    }

    /// Writes the final bytes and returns the whole stream; the encoder is empty afterwards and
    /// can code a new stream.
    public mutating func finish() -> [UInt8] {
        // Surprise 4: the number in [low, low + range) with the most trailing zero bytes.
        // Aligning to 2^32 always works because range ≥ 2^32; try coarser alignments first.
        var keptBytes = 4
        var distance: UInt64 = 0
        for candidateKept in 0...4 {
            let droppedBits = UInt64(64 - 8 * candidateKept)
            let mask: UInt64 = droppedBits == 64 ? .max : (1 << droppedBits) - 1
            let d = (0 &- low) & mask  // from low up to the next multiple of 2^droppedBits
            if d < range {
                keptBytes = candidateKept
                distance = d
                break
            }
        }
        let (newLow, carry) = low.addingReportingOverflow(distance)
        low = newLow
        if carry { propagateCarry() }

        var bytes = [UInt8]()
        bytes.reserveCapacity(words.count * 4 + keptBytes)
        for word in words {
            bytes.append(UInt8(truncatingIfNeeded: word >> 24))
            bytes.append(UInt8(truncatingIfNeeded: word >> 16))
            bytes.append(UInt8(truncatingIfNeeded: word >> 8))
            bytes.append(UInt8(truncatingIfNeeded: word))
        }
        for i in 0..<keptBytes {
            bytes.append(UInt8(truncatingIfNeeded: low >> UInt64(56 - 8 * i)))
        }
        self = RangeEncoder()
        return bytes
    }
}

/// Decodes a stream written by `RangeEncoder`, one symbol at a time, under the same tables.
///
/// ```swift
/// var decoder = try RangeDecoder(bytes: bytes)
/// let symbol = try decoder.decode(table: table)
/// ```
/// Safe on any input: truncated, corrupt or random bytes make it return wrong symbols or throw
/// `RangeCoderError`; it never traps, never reads out of bounds and does a bounded amount of
/// work per call.
public struct RangeDecoder: Sendable {
    /// Zero words appended after the stream. A finished stream is read at most 8 bytes past its
    /// end (surprise 5), that is 2 words; a partial last word is zero-padded on top of that.
    public static let paddingWords = 2

    /// The stream as big-endian words, zero-padded (see `paddingWords`).
    @usableFromInline let words: [UInt32]
    /// Next word to read.
    @usableFromInline var position: Int
    /// Byte count of the stream as given, for error messages.
    @usableFromInline let byteCount: Int
    /// Width of the current interval; mirrors the encoder's `range` exactly.
    /// Invariant: `RangeEncoder.minRange <= range`.
    @usableFromInline var range: UInt64 = .max
    /// The coded number minus the encoder's `low` (surprise 6). Invariant: `code < range`.
    @usableFromInline var code: UInt64

    /// Starts decoding `bytes` (a whole stream from `RangeEncoder.finish()`; `[UInt8]`,
    /// `ArraySlice<UInt8>`, `Data`, …). Copies the stream once into padded words.
    /// - Throws: `RangeCoderError.invalidStreamStart` when the first 8 bytes are all 0xFF.
    @inlinable
    public init<Bytes: Collection>(bytes: Bytes) throws(RangeCoderError) where Bytes.Element == UInt8 {
        let words = bytes.withContiguousStorageIfAvailable(Self.paddedWords(from:))
            ?? Array(bytes).withUnsafeBufferPointer(Self.paddedWords(from:))
        try self.init(paddedWords: words, byteCount: bytes.count)
    }

    @usableFromInline
    init(paddedWords: [UInt32], byteCount: Int) throws(RangeCoderError) {
        self.words = paddedWords
        self.byteCount = byteCount
        self.code = UInt64(paddedWords[0]) << 32 | UInt64(paddedWords[1])
        self.position = 2
        guard code < range else { throw .invalidStreamStart }
    }

    /// The bytes as big-endian words, the last one zero-filled, followed by `paddingWords` zeros.
    @usableFromInline
    static func paddedWords(from bytes: UnsafeBufferPointer<UInt8>) -> [UInt32] {
        let fullWords = bytes.count / 4
        var words = [UInt32](repeating: 0, count: (bytes.count + 3) / 4 + paddingWords)
        if fullWords > 0 {
            let raw = UnsafeRawBufferPointer(bytes)
            for i in 0..<fullWords {
                words[i] = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
            }
        }
        for index in (4 * fullWords)..<bytes.count {
            words[fullWords] |= UInt32(bytes[index]) << UInt32(24 - 8 * (index & 3))
        }
        return words
    }

    /// Decodes the next symbol, which the encoder coded under `table`.
    /// - Returns: a symbol in `0 ..< table.symbolCount`.
    /// - Throws: `RangeCoderError.streamExhausted` when the stream (plus its padding) is used up.
    @inlinable
    public mutating func decode(table: FrequencyTable) throws(RangeCoderError) -> Int {
        let unit = currentUnit()
        let symbol = table.symbol(containing: unit)
        let (start, end) = table.storage.withUnsafeBufferPointer { ($0[symbol], $0[symbol &+ 1]) }
        try consume(start: start, end: end)
        return symbol
    }

    /// The unit of `0 ..< FrequencyTable.total` the next symbol's interval contains.
    @inlinable
    func currentUnit() -> UInt32 {
        assert(code < range && range >= RangeEncoder.minRange)
        let r = range >> UInt64(FrequencyTable.precisionBits)  // ≥ 2^16, never zero
        // The unit `code` falls in; beyond `total` lies the last symbol's extra share (surprise 2).
        return UInt32(truncatingIfNeeded: Swift.min(code / r, UInt64(FrequencyTable.total - 1)))
    }

    /// Removes the decoded symbol's interval `start ..< end` (units of `FrequencyTable.total`,
    /// containing `currentUnit()`) from the state, as the encoder's `encode(start:end:)` did.
    @inlinable
    mutating func consume(start: UInt32, end: UInt32) throws(RangeCoderError) {
        let r = range >> UInt64(FrequencyTable.precisionBits)
        // start ≤ unit ≤ code / r, so the subtraction stays non-negative.
        let offset = r &* UInt64(start)
        code &-= offset
        if end == FrequencyTable.total {
            range &-= offset
        } else {
            range = r &* UInt64(end &- start)
        }
        if range < RangeEncoder.minRange {
            // code < range < 2^32, so the shift keeps every bit.
            guard position < words.count else { throw .streamExhausted(byteCount: byteCount) }
            code = code << RangeEncoder.wordBits | UInt64(words[position])
            position &+= 1
            range <<= RangeEncoder.wordBits
        }
        assert(code < range && range >= RangeEncoder.minRange)
    }
}
