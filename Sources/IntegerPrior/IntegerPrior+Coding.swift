import Foundation
import RangeCoder

extension IntegerPrior {
    /// Encoder: calls `body` once per symbol of one tile, in coding order (raster positions; groups
    /// 0..<G within a position), with the symbol and its frequency table. The network runs in
    /// batch over the whole tile, block by block.
    /// - symbols: `[G, height, width]`, each in 0..<K.
    /// - The table passed to `body` is reused for the next symbol: copy it to keep it.
    public func forEachTable(symbols: [Int32], height: Int, width: Int,
                             _ body: (_ symbol: Int, _ table: FrequencyTable) throws -> Void) rethrows {
        checkTile(symbols: symbols, height: height, width: width)
        let scratch = TileScratch(network: network, height: height, width: width, batch: true)
        try scratch.forEachTable(symbols: symbols, body)
    }

    /// Decoder: evaluates the network one position and one group at a time, in coding order,
    /// reusing the activations of earlier positions (cost linear in the number of positions);
    /// asks `decodeSymbol` for each symbol given its table, and returns the tile's symbols
    /// `[G, height, width]`. The tables are bit-identical to `forEachTable`'s for the same symbols.
    /// - decodeSymbol: returns a symbol in `0 ..< table.symbolCount` (a range decoder's answer).
    public func decode(height: Int, width: Int, _ decodeSymbol: (_ table: FrequencyTable) throws -> Int) rethrows -> [Int32] {
        precondition(height > 0 && width > 0, "a tile has at least one position, found \(height)×\(width)")
        let scratch = TileScratch(network: network, height: height, width: width, batch: false)
        return try scratch.decode(tables: decodeSymbol)
    }

    /// Codes a tile's symbols `[G, height, width]` (each in 0..<K) into `encoder`, with the same
    /// intervals, hence the same bytes, as coding each symbol under its `forEachTable` table,
    /// without building the tables. Returns the symbols' total −log2 p in bits.
    public func encode(symbols: [Int32], height: Int, width: Int, into encoder: inout RangeEncoder) -> Double {
        checkTile(symbols: symbols, height: height, width: width)
        let scratch = TileScratch(network: network, height: height, width: width, batch: true)
        return scratch.encode(symbols: symbols, into: &encoder)
    }

    /// Decodes a tile's symbols `[G, height, width]` from `decoder`, which must hold what
    /// `encode(symbols:height:width:into:)` (or coding with `forEachTable`'s tables) wrote.
    /// - Throws: the decoder's `RangeCoderError` (a stream used up).
    public func decode(height: Int, width: Int, from decoder: inout RangeDecoder) throws -> [Int32] {
        precondition(height > 0 && width > 0, "a tile has at least one position, found \(height)×\(width)")
        let scratch = TileScratch(network: network, height: height, width: width, batch: false)
        return try scratch.decode(from: &decoder)
    }

    /// Total −log2 p of a tile's symbols `[G, height, width]` under the integer tables, in bits:
    /// the size a range coder reaches within its tiny overhead.
    public func bits(symbols: [Int32], height: Int, width: Int) -> Double {
        var total = 0.0
        let scale = Double(FrequencyTable.total)
        forEachTable(symbols: symbols, height: height, width: width) { symbol, table in
            total -= log2(Double(table.frequency(of: symbol)) / scale)
        }
        return total
    }

    /// A tile's symbols `[G, height, width]`, each in 0..<K: a caller's mistake otherwise.
    private func checkTile(symbols: [Int32], height: Int, width: Int) {
        let (g, k) = (network.groups, network.symbols)
        precondition(height > 0 && width > 0, "a tile has at least one position, found \(height)×\(width)")
        precondition(symbols.count == g * height * width, "\(symbols.count) symbols do not fill [\(g), \(height), \(width)]")
        for (index, s) in symbols.enumerated() where s < 0 || Int(s) >= k {
            preconditionFailure("symbol \(s) at index \(index) is outside 0..<\(k)")
        }
    }
}

extension TileScratch {
    /// The encoder's loop on this batch scratch (symbols already checked): `body` gets each
    /// symbol in coding order with its distribution's integer weights (`[K]`, reused for the next
    /// symbol).
    func forEachWeights(symbols: [Int32], _ body: (_ symbol: Int, _ weights: UnsafeBufferPointer<UInt32>) throws -> Void) rethrows {
        let net = network
        let g = net.groups
        let last = evaluateBatch(symbols: symbols)
        let (c, reach) = (net.channels, net.reach)
        let distribution = UnsafeBufferPointer(start: weights, count: net.symbols)
        for r in 0..<height {
            let row = last + r * paddedWidth * c
            for col in 0..<width {
                for group in 0..<g {
                    net.headWeights(group: group, horizontal: row + (reach + col) * c, rectified: rectified,
                                    hidden: hidden, logits: logits, weights: weights)
                    try body(Int(symbols[(group * height + r) * width + col]), distribution)
                }
            }
        }
    }

    /// `forEachWeights` with each distribution as its `FrequencyTable` (reused for the next symbol).
    func forEachTable(symbols: [Int32], _ body: (_ symbol: Int, _ table: FrequencyTable) throws -> Void) rethrows {
        var table = FrequencyTable(uniformOver: network.symbols)
        try forEachWeights(symbols: symbols) { symbol, weights in
            assign(&table)
            try body(symbol, table)
        }
    }

    /// Codes the tile's symbols into `encoder`; returns their total −log2 p in bits.
    func encode(symbols: [Int32], into encoder: inout RangeEncoder) -> Double {
        var bits = 0.0
        let total = Double(FrequencyTable.total)
        forEachWeights(symbols: symbols) { symbol, weights in
            bits -= log2(Double(encoder.encode(symbol: symbol, weights: weights)) / total)
        }
        return bits
    }

    /// The decoder's loop on this incremental scratch: `decodeSymbol` gets each distribution's
    /// integer weights (`[K]`) in coding order and returns the symbol.
    func decodeWeights(_ decodeSymbol: (_ weights: UnsafeBufferPointer<UInt32>) throws -> Int) rethrows -> [Int32] {
        let net = network
        let (g, k, c, reach) = (net.groups, net.symbols, net.channels, net.reach)
        var symbols = [Int32](repeating: 0, count: g * height * width)
        let e = net.embeddingDimension
        let ge = g * e
        let lastBlock = net.blocks.count - 1
        let distribution = UnsafeBufferPointer(start: weights, count: k)
        for r in 0..<height {
            verticalPass(row: r)
            let embeddedRow = ringRow(0, r)
            for col in 0..<width {
                for group in 0..<g {
                    for (b, block) in net.blocks.enumerated() {
                        net.horizontalGroup(block, group: group, column: col,
                                            input: b == 0 ? UnsafePointer(embeddedRow) : UnsafePointer(horizontal[b - 1]),
                                            link: link[b], output: horizontal[b], gates: gates[b], sums: accumulators)
                    }
                    net.headWeights(group: group, horizontal: horizontal[lastBlock] + (reach + col) * c,
                                    rectified: rectified, hidden: hidden, logits: logits,
                                    weights: weights)
                    let symbol = try decodeSymbol(distribution)
                    precondition(symbol >= 0 && symbol < k, "decoded symbol \(symbol) is outside 0..<\(k)")
                    symbols[(group * height + r) * width + col] = Int32(symbol)
                    (embeddedRow + (reach + col) * ge + group * e)
                        .update(from: net.embedding + (group * k + symbol) * e, count: e)
                }
            }
        }
        return symbols
    }

    /// `decode` with each distribution as its `FrequencyTable`.
    func decode(tables decodeSymbol: (_ table: FrequencyTable) throws -> Int) rethrows -> [Int32] {
        var table = FrequencyTable(uniformOver: network.symbols)
        return try decodeWeights { _ in
            assign(&table)
            return try decodeSymbol(table)
        }
    }

    /// Decodes the tile's symbols from `decoder`.
    func decode(from decoder: inout RangeDecoder) throws -> [Int32] {
        try decodeWeights { weights in try decoder.decode(weights: weights, prefixSums: prefixSums) }
    }
}

/// Work space of one tile evaluation. Owned by one call: tiles in parallel each have their own.
final class TileScratch {
    let network: IntegerNetwork
    let height: Int
    let width: Int
    let paddedWidth: Int

    // Decoder: ring rows (slot 0 the embedding, slot b + 1 block b's vertical gates), one row of
    // horizontal stack and link per block, and per-position gate scratch per block.
    private var rings: [UnsafeMutablePointer<Int16>] = []
    private var ringChannels: [Int] = []
    private(set) var horizontal: [UnsafeMutablePointer<Int16>] = []
    private(set) var link: [UnsafeMutablePointer<Int32>] = []
    private(set) var gates: [UnsafeMutablePointer<Int16>] = []

    // Encoder: whole-tile tensors.
    private var embedded: UnsafeMutablePointer<Int16>?
    private var planes: [UnsafeMutablePointer<Int16>] = []  // vertical gates ×2, horizontal ×2

    // A stage prior's condition (nil without one): the earlier stages' decoded latent over the
    // tile, `[height + 2][width + 2][D]` with a border of zeros, and one row of condition terms.
    let condition: UnsafeMutablePointer<Int16>?
    private let conditionVertical: UnsafeMutablePointer<Int32>?
    private let conditionHorizontal: UnsafeMutablePointer<Int32>?

    // Both.
    let accumulators: UnsafeMutablePointer<Int32>
    let values: UnsafeMutablePointer<Int16>
    let rowGates: UnsafeMutablePointer<Int16>
    let rectified: UnsafeMutablePointer<Int16>
    let hidden: UnsafeMutablePointer<Int16>
    let logits: UnsafeMutablePointer<Int32>
    let weights: UnsafeMutablePointer<UInt32>
    let prefixSums: UnsafeMutablePointer<UInt64>
    private var allocations: [UnsafeMutableRawPointer] = []

    init(network: IntegerNetwork, height: Int, width: Int, batch: Bool) {
        self.network = network
        self.height = height
        self.width = width
        paddedWidth = width + 2 * network.reach
        let (c, ge) = (network.channels, network.groups * network.embeddingDimension)
        var allocations: [UnsafeMutableRawPointer] = []
        func zeros<T: FixedWidthInteger>(_ count: Int, _: T.Type) -> UnsafeMutablePointer<T> {
            let p = UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            allocations.append(UnsafeMutableRawPointer(p))
            return p
        }
        accumulators = zeros(width * 2 * c, Int32.self)
        values = zeros(width * 2 * c, Int16.self)
        rowGates = zeros(width * c, Int16.self)
        rectified = zeros(c, Int16.self)
        hidden = zeros(network.headChannels, Int16.self)
        logits = zeros(max(network.symbols, network.headChannels), Int32.self)
        weights = zeros(network.symbols, UInt32.self)
        prefixSums = zeros(network.symbols + 1, UInt64.self)
        let d = network.conditionChannels
        condition = d > 0 ? zeros((height + 2) * (width + 2) * d, Int16.self) : nil
        conditionVertical = d > 0 ? zeros(width * 2 * c, Int32.self) : nil
        conditionHorizontal = d > 0 ? zeros(width * 2 * c, Int32.self) : nil
        let slots = network.reach + 1
        if batch {
            embedded = zeros(height * paddedWidth * ge, Int16.self)
            planes = (0..<4).map { _ in zeros(height * paddedWidth * c, Int16.self) }
            link = [zeros(width * 2 * c, Int32.self)]
        } else {
            ringChannels = [ge] + Array(repeating: c, count: network.blocks.count - 1)
            rings = ringChannels.map { zeros(slots * paddedWidth * $0, Int16.self) }
            horizontal = network.blocks.map { _ in zeros(paddedWidth * c, Int16.self) }
            link = network.blocks.map { _ in zeros(width * 2 * c, Int32.self) }
            gates = network.blocks.map { _ in zeros(c, Int16.self) }
        }
        self.allocations = allocations
    }

    deinit {
        for p in allocations { p.deallocate() }
    }

    /// The condition terms of `block` for row `r` (`IntegerNetwork.conditionRow`), or nil for a
    /// network without a condition. Valid until the next call.
    func conditionTerms(_ block: IntegerNetwork.Block, row r: Int) -> (vertical: UnsafePointer<Int32>, horizontal: UnsafePointer<Int32>)? {
        guard let condition, let conditionVertical, let conditionHorizontal else { return nil }
        let rowSize = (width + 2) * network.conditionChannels
        // Padded row r + ky holds tile row r − 1 + ky; rows outside the tile are skipped (zeros).
        let rows: [UnsafePointer<Int16>?] = (0..<3).map { ky in
            (0..<height).contains(r - 1 + ky) ? UnsafePointer(condition + (r + ky) * rowSize) : nil
        }
        network.conditionRow(block, rows: rows, width: width, vertical: conditionVertical, horizontal: conditionHorizontal)
        return (UnsafePointer(conditionVertical), UnsafePointer(conditionHorizontal))
    }

    /// Decoder: padded row `row` (≥ 0) of ring `ring` (0: embedding, b + 1: block b's vertical gates).
    func ringRow(_ ring: Int, _ row: Int) -> UnsafeMutablePointer<Int16> {
        rings[ring] + (row % (network.reach + 1)) * paddedWidth * ringChannels[ring]
    }

    /// Decoder, at the start of row `row`: every block's vertical stack for the whole row (it
    /// depends on rows above only), in block order, and each block's link into its horizontal stack.
    func verticalPass(row r: Int) {
        let net = network
        for (b, block) in net.blocks.enumerated() {
            let first = r - net.reach
            let rows: [UnsafePointer<Int16>?] = (0..<block.verticalRows).map { ky in
                first + ky >= 0 ? UnsafePointer(ringRow(b, first + ky)) : nil
            }
            net.verticalRow(block, rows: rows, width: width,
                            gates: b + 1 < net.blocks.count ? ringRow(b + 1, r) : nil, link: link[b],
                            accumulators: accumulators, values: values, condition: conditionTerms(block, row: r))
        }
    }

    /// Encoder: the whole network except the head over the tile, block by block.
    /// - Returns: the last block's horizontal stack, `[height][paddedWidth][C]`.
    func evaluateBatch(symbols: [Int32]) -> UnsafePointer<Int16> {
        let net = network
        let (g, e, c, reach) = (net.groups, net.embeddingDimension, net.channels, net.reach)
        let (ge, k) = (g * e, net.symbols)
        let embedded = self.embedded!
        for group in 0..<g {
            for r in 0..<height {
                for col in 0..<width {
                    let s = Int(symbols[(group * height + r) * width + col])
                    (embedded + (r * paddedWidth + reach + col) * ge + group * e)
                        .update(from: net.embedding + (group * k + s) * e, count: e)
                }
            }
        }
        var (gatesIn, gatesOut) = (planes[0], planes[1])
        var (horizontalIn, horizontalOut) = (planes[2], planes[3])
        for (b, block) in net.blocks.enumerated() {
            let (verticalSource, verticalChannels) = b == 0 ? (embedded, ge) : (gatesIn, c)
            let horizontalSource = b == 0 ? embedded : horizontalIn
            let inputRowSize = paddedWidth * block.inputChannels
            for r in 0..<height {
                let first = r - reach
                let rows: [UnsafePointer<Int16>?] = (0..<block.verticalRows).map { ky in
                    first + ky >= 0 ? UnsafePointer(verticalSource + (first + ky) * paddedWidth * verticalChannels) : nil
                }
                net.verticalRow(block, rows: rows, width: width,
                                gates: b + 1 < net.blocks.count ? gatesOut + r * paddedWidth * c : nil,
                                link: link[0], accumulators: accumulators, values: values,
                                condition: conditionTerms(block, row: r))
                net.horizontalRow(block, input: horizontalSource + r * inputRowSize, link: link[0], width: width,
                                  output: horizontalOut + r * paddedWidth * c, accumulators: accumulators,
                                  gates: rowGates)
            }
            swap(&gatesIn, &gatesOut)
            swap(&horizontalIn, &horizontalOut)
        }
        return UnsafePointer(horizontalIn)
    }

    /// Quantises the head's weights into `table` (pure integer path of `FrequencyTable`).
    func assign(_ table: inout FrequencyTable) {
        // The exp table's first entry is ≥ 1 and the largest logit maps to it, so the sum is
        // positive; K is in range and every weight is below 2^31: `assign` cannot fail.
        try! table.assign(weights: UnsafeBufferPointer(start: weights, count: network.symbols))
    }
}
