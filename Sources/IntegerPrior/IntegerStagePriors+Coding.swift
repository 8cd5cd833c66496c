import Foundation
import RangeCoder

extension IntegerStagePriors {
    /// Encoder: calls `body` once per symbol of stage `stage`'s tile, in coding order (raster
    /// positions; groups 0..<G_k within a position), with the symbol and its frequency table,
    /// exactly as `IntegerPrior.forEachTable` does for a one-stage prior.
    /// - stage: k in 1…S.
    /// - symbols: the stage's symbols `[G_k, height, width]`, each in 0..<K_k.
    /// - earlier: the symbols of stages 1…k−1 over the same tile region, `earlier[j − 1]` is
    ///   `[G_j, height, width]` row-major. The condition sees zeros outside the tile, so a tile is
    ///   coded independently. An unconditioned stage checks them but does not read them.
    /// - The table passed to `body` is reused for the next symbol: copy it to keep it.
    public func forEachTable(stage: Int, symbols: [Int32], earlier: [[Int32]], height: Int, width: Int,
                             _ body: (_ symbol: Int, _ table: FrequencyTable) throws -> Void) rethrows {
        checkTile(stage: stage, symbols: symbols, height: height, width: width)
        let scratch = self.scratch(stage: stage, earlier: earlier, height: height, width: width, batch: true)
        try scratch.forEachTable(symbols: symbols, body)
    }

    /// Decoder: evaluates stage `stage`'s network one position and one group at a time, in coding
    /// order, asks `decodeSymbol` for each symbol given its table, and returns the stage's symbols
    /// `[G_k, height, width]`. The tables are bit-identical to `forEachTable`'s for the same
    /// symbols and the same `earlier` (see there).
    public func decode(stage: Int, height: Int, width: Int, earlier: [[Int32]],
                       _ decodeSymbol: (_ table: FrequencyTable) throws -> Int) rethrows -> [Int32] {
        precondition(height > 0 && width > 0, "a tile has at least one position, found \(height)×\(width)")
        let scratch = self.scratch(stage: stage, earlier: earlier, height: height, width: width, batch: false)
        return try scratch.decode(tables: decodeSymbol)
    }

    /// Codes stage `stage`'s symbols of one tile into `encoder` (the bytes `forEachTable`'s tables
    /// would give, without building them; arguments as there). Returns their total −log2 p in bits.
    public func encode(stage: Int, symbols: [Int32], earlier: [[Int32]], height: Int, width: Int,
                       into encoder: inout RangeEncoder) -> Double {
        checkTile(stage: stage, symbols: symbols, height: height, width: width)
        let scratch = self.scratch(stage: stage, earlier: earlier, height: height, width: width, batch: true)
        return scratch.encode(symbols: symbols, into: &encoder)
    }

    /// Decodes stage `stage`'s symbols of one tile from `decoder` (arguments as for `decode`).
    public func decode(stage: Int, height: Int, width: Int, earlier: [[Int32]],
                       from decoder: inout RangeDecoder) throws -> [Int32] {
        precondition(height > 0 && width > 0, "a tile has at least one position, found \(height)×\(width)")
        let scratch = self.scratch(stage: stage, earlier: earlier, height: height, width: width, batch: false)
        return try scratch.decode(from: &decoder)
    }

    /// Total −log2 p of stage `stage`'s symbols of one tile under the integer tables, in bits.
    public func bits(stage: Int, symbols: [Int32], earlier: [[Int32]], height: Int, width: Int) -> Double {
        var total = 0.0
        let scale = Double(FrequencyTable.total)
        forEachTable(stage: stage, symbols: symbols, earlier: earlier, height: height, width: width) { symbol, table in
            total -= log2(Double(table.frequency(of: symbol)) / scale)
        }
        return total
    }

    /// Stage `stage`'s symbols of one tile `[G_k, height, width]`, each in 0..<K_k: a caller's
    /// mistake otherwise.
    private func checkTile(stage: Int, symbols: [Int32], height: Int, width: Int) {
        let c = configuration(stage: stage)
        precondition(height > 0 && width > 0, "a tile has at least one position, found \(height)×\(width)")
        precondition(symbols.count == c.groups * height * width,
                     "\(symbols.count) symbols do not fill [\(c.groups), \(height), \(width)]")
        for (index, s) in symbols.enumerated() where s < 0 || Int(s) >= c.codebookSize {
            preconditionFailure("symbol \(s) at index \(index) is outside 0..<\(c.codebookSize)")
        }
    }

    /// A scratch for stage `stage` with its condition filled from `earlier` (checked here).
    private func scratch(stage: Int, earlier: [[Int32]], height: Int, width: Int, batch: Bool) -> TileScratch {
        precondition((1...count).contains(stage), "stage \(stage) is outside 1…\(count)")
        precondition(earlier.count == stage - 1, "stage \(stage) reads the symbols of \(stage - 1) earlier stages, found \(earlier.count)")
        for (j, symbols) in earlier.enumerated() {
            let c = configurations[j]
            precondition(symbols.count == c.groups * height * width,
                         "stage \(j + 1): \(symbols.count) symbols do not fill [\(c.groups), \(height), \(width)]")
            for (index, s) in symbols.enumerated() where s < 0 || Int(s) >= c.codebookSize {
                preconditionFailure("stage \(j + 1): symbol \(s) at index \(index) is outside 0..<\(c.codebookSize)")
            }
        }
        let network = networks[stage - 1]
        let scratch = TileScratch(network: network, height: height, width: width, batch: batch)
        guard let condition = scratch.condition else { return scratch }
        // c[r, col, g·d_j + i] = Σ_j codebook_j[g, z_j[g, r, col], i], exact: every partial sum is
        // within the sum of the codebooks' largest magnitudes, ≤ A (checked on load).
        let d = latentChannels
        for (j, symbols) in earlier.enumerated() {
            let (g, k) = (configurations[j].groups, configurations[j].codebookSize)
            let dj = d / g
            codebooks[j].withUnsafeBufferPointer { book in
                for group in 0..<g {
                    for r in 0..<height {
                        for col in 0..<width {
                            let s = Int(symbols[(group * height + r) * width + col])
                            let target = condition + ((r + 1) * (width + 2) + col + 1) * d + group * dj
                            let code = (group * k + s) * dj
                            for i in 0..<dj { target[i] &+= book[code + i] }
                        }
                    }
                }
            }
        }
        return scratch
    }
}
