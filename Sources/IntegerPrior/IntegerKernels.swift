import CIntegerKernels

/// The integer prior's building blocks, shared by batch evaluation (the encoder) and incremental
/// evaluation (the decoder). Every function is exact integer arithmetic; sums cannot overflow
/// for a validated network (`IntegerPrior` checks the accumulator budget on load), so the order
/// in which products are added never matters.
///
/// Activation rows are padded: `[reach + width + reach][channels]` Int16, the `reach` columns on
/// each side zero, real column c at padded column `reach + c`. The window of a kernel centred on
/// column c then starts at padded column c and is contiguous.

/// c[i·ldc + j] &+= Σ_{t < k} a[i·lda + t] · w[j·ldw + t] for i < m, j < n (`CIntegerKernels`:
/// AVX2 where the CPU has it, the same bits either way).
@inline(__always)
func multiplyAccumulate(rows m: Int, outputs n: Int, length k: Int, _ a: UnsafePointer<Int16>, _ lda: Int,
                        _ w: UnsafePointer<Int16>, _ ldw: Int, into c: UnsafeMutablePointer<Int32>, _ ldc: Int) {
    vqk_gemm_accumulate(m, n, k, a, lda, w, ldw, c, ldc)
}

@inline(__always)
func clamp(_ value: Int64, _ low: Int64, _ high: Int64) -> Int64 { min(max(value, low), high) }

/// The gated activation tanh(a) · sigmoid(b) from two table entries in units of 2^−14:
/// `(t · s + 2^14) >> 15`, in units of 2^−13 (|result| ≤ 8192).
@inline(__always)
func gate(_ t: Int16, _ s: Int16) -> Int16 {
    Int16(truncatingIfNeeded: (Int32(t) &* Int32(s) &+ (1 << (IntegerFormat.gateShift - 1))) &>> IntegerFormat.gateShift)
}

extension IntegerNetwork {
    @inline(__always)
    func lookupIndex(_ rescale: Rescale, _ accumulator: Int32, _ channel: Int) -> Int {
        Int(clamp(rescale(accumulator, channel), -Int64(lookupRadius), Int64(lookupRadius)))
    }

    @inline(__always)
    func activation(_ value: Int64) -> Int16 {
        Int16(truncatingIfNeeded: clamp(value, -Int64(IntegerFormat.activationLimit), Int64(IntegerFormat.activationLimit)))
    }

    /// The vertical stack of `block` for one row, and its contribution to the horizontal stack.
    /// - rows: the `block.verticalRows` padded input rows the kernel reads, top first; nil for rows
    ///   above the tile (zeros).
    /// - gates: padded row receiving the vertical gate outputs `[.., C]`, or nil when no later
    ///   block reads them (the last block).
    /// - link: `[width][2C]` receives `horizontal bias + link · pv` (the horizontal stack's
    ///   pre-activation minus its own convolution).
    /// - scratch: `[width][2C]` Int32 and `[width][2C]` Int16 work space.
    /// - condition: a stage prior's condition terms for this row (`conditionRow`), `[width][2C]`
    ///   each, added to the vertical and the horizontal accumulators; nil without a condition.
    func verticalRow(_ block: Block, rows: [UnsafePointer<Int16>?], width: Int,
                     gates: UnsafeMutablePointer<Int16>?, link: UnsafeMutablePointer<Int32>,
                     accumulators: UnsafeMutablePointer<Int32>, values: UnsafeMutablePointer<Int16>,
                     condition: (vertical: UnsafePointer<Int32>, horizontal: UnsafePointer<Int32>)? = nil) {
        let (c, c2, cin) = (channels, 2 * channels, block.inputChannels)
        let span = kernelSize * cin
        for col in 0..<width {
            let a = accumulators + col * c2
            if let condition {
                let terms = condition.vertical + col * c2
                for o in 0..<c2 { a[o] = block.verticalBias[o] &+ terms[o] }
            } else {
                a.update(from: block.verticalBias, count: c2)
            }
        }
        for (ky, row) in rows.enumerated() {
            guard let row else { continue }
            multiplyAccumulate(rows: width, outputs: c2, length: span, row, cin,
                               block.vertical + ky * span, block.verticalRows * span, into: accumulators, c2)
        }
        for col in 0..<width {
            let a = accumulators + col * c2
            let v = values + col * c2
            for o in 0..<c2 { v[o] = activation(block.verticalValue(a[o], o)) }
            if let gates {
                let out = gates + (reach + col) * c
                for i in 0..<c {
                    out[i] = gate(tanhTable[lookupIndex(block.verticalIndex, a[i], i)],
                                  sigmoidTable[lookupIndex(block.verticalIndex, a[c + i], c + i)])
                }
            }
        }
        for col in 0..<width { (link + col * c2).update(from: block.horizontalBias, count: c2) }
        multiplyAccumulate(rows: width, outputs: c2, length: c2, values, c2, block.link, c2, into: link, c2)
        if let condition {
            for i in 0..<width * c2 { link[i] &+= condition.horizontal[i] }
        }
    }

    /// A stage prior's condition terms of `block` for one row: `vertical[col][o]` =
    /// Σ CV[o, ky, kx, d] · cond[r − 1 + ky, col − 1 + kx, d] (3 × 3, zeros outside the tile) and
    /// `horizontal[col][o]` = Σ CH[o, d] · cond[r, col, d], both `[width][2C]`.
    /// - rows: the condition's padded rows r − 1, r, r + 1 (`[width + 2][D]`, one zero column on
    ///   each side), nil for rows outside the tile.
    func conditionRow(_ block: Block, rows: [UnsafePointer<Int16>?], width: Int,
                      vertical: UnsafeMutablePointer<Int32>, horizontal: UnsafeMutablePointer<Int32>) {
        guard let cv = block.conditionVertical, let ch = block.conditionHorizontal else {
            preconditionFailure("block has no condition weights")
        }
        let (c2, d) = (2 * channels, conditionChannels)
        let span = 3 * d
        vertical.initialize(repeating: 0, count: width * c2)
        for (ky, row) in rows.enumerated() {
            guard let row else { continue }
            multiplyAccumulate(rows: width, outputs: c2, length: span, row, d, cv + ky * span, 3 * span, into: vertical, c2)
        }
        horizontal.initialize(repeating: 0, count: width * c2)
        multiplyAccumulate(rows: width, outputs: c2, length: d, rows[1]! + d, d, ch, d, into: horizontal, c2)
    }

    /// Input channels of `block`'s horizontal convolution that output group `group` reads at the
    /// centre tap: groups < g for the first block (mask .a), ≤ g after (mask .b).
    @inline(__always)
    func centreChannels(_ block: Block, group: Int) -> Int {
        (block.isFirst ? group : group + 1) * (block.inputChannels / groups)
    }

    /// The horizontal stack of `block` for a whole row at once (every position, every group):
    /// the encoder's path. `input` and `output` are padded rows; `link` comes from `verticalRow`.
    /// Scratch: `[width][2C]` Int32 and `[width][C]` Int16.
    func horizontalRow(_ block: Block, input: UnsafePointer<Int16>, link: UnsafePointer<Int32>, width: Int,
                       output: UnsafeMutablePointer<Int16>, accumulators: UnsafeMutablePointer<Int32>,
                       gates: UnsafeMutablePointer<Int16>) {
        let (c, c2, cin) = (channels, 2 * channels, block.inputChannels)
        let taps = (reach + 1) * cin
        // Every tap: the masked ones are zero in every valid file (checked on load).
        accumulators.update(from: link, count: width * c2)
        multiplyAccumulate(rows: width, outputs: c2, length: taps, input, cin, block.horizontal, taps, into: accumulators, c2)
        for col in 0..<width {
            let a = accumulators + col * c2
            for i in 0..<c {
                gates[col * c + i] = gate(tanhTable[lookupIndex(block.horizontalIndex, a[i], i)],
                                          sigmoidTable[lookupIndex(block.horizontalIndex, a[c + i], c + i)])
            }
        }
        let out = block.output
        let sums = accumulators  // free again: the gates hold what the output convolution reads
        for col in 0..<width { (sums + col * c).update(from: out.bias, count: c) }
        multiplyAccumulate(rows: width, outputs: c, length: c, gates, c, out.weight, c, into: sums, c)
        for col in 0..<width {
            for o in 0..<c {
                let added = activation(out.rescale(sums[col * c + o], o))
                let index = (reach + col) * c + o
                output[index] = block.isFirst ? added : activation(Int64(input[index]) + Int64(added))
            }
        }
    }

    /// The horizontal stack of `block` at one position for one group: the decoder's path.
    /// Reads `input` at columns col − reach … col − 1 (every channel) and col (the centre
    /// channels of earlier groups, and of `group` itself after the first block); writes group
    /// `group`'s channels of `output` at col. `gates` is this block's `[C]` scratch for this
    /// position: it keeps the gates of earlier groups, which the output convolution reads.
    /// `sums` is `[2C / G]` Int32 work space.
    @inline(__always)
    func horizontalGroup(_ block: Block, group: Int, column col: Int, input: UnsafePointer<Int16>,
                         link: UnsafePointer<Int32>, output: UnsafeMutablePointer<Int16>,
                         gates: UnsafeMutablePointer<Int16>, sums: UnsafeMutablePointer<Int32>) {
        let (c, c2, cin) = (channels, 2 * channels, block.inputChannels)
        let per = c / groups
        let first = group * per
        let taps = (reach + 1) * cin
        let n = reach * cin + centreChannels(block, group: group)
        let x = input + col * cin
        let l = link + col * c2
        // The group's tanh channels first …< per, then its sigmoid channels per ..< 2 per.
        sums.update(from: l + first, count: per)
        (sums + per).update(from: l + c + first, count: per)
        multiplyAccumulate(rows: 1, outputs: per, length: n, x, cin, block.horizontal + first * taps, taps, into: sums, per)
        multiplyAccumulate(rows: 1, outputs: per, length: n, x, cin, block.horizontal + (c + first) * taps, taps,
                           into: sums + per, per)
        for j in 0..<per {
            let i = first + j
            gates[i] = gate(tanhTable[lookupIndex(block.horizontalIndex, sums[j], i)],
                            sigmoidTable[lookupIndex(block.horizontalIndex, sums[per + j], c + i)])
        }
        let out = block.output
        sums.update(from: out.bias + first, count: per)
        multiplyAccumulate(rows: 1, outputs: per, length: first + per, gates, c, out.weight + first * c, c, into: sums, per)
        for j in 0..<per {
            let o = first + j
            let added = activation(out.rescale(sums[j], o))
            let index = (reach + col) * c + o
            output[index] = block.isFirst ? added : activation(Int64(input[index]) + Int64(added))
        }
    }

    /// The head for group `group` at one position: `weights[s]` (s in 0..<K) receives the
    /// unnormalised integer probability of symbol s.
    /// - horizontal: the last block's horizontal stack at this position (`[C]`; groups ≤ `group`
    ///   are read).
    /// - rectified, hidden: this position's `[C]` and `[headChannels]` scratch; they keep the
    ///   values of earlier groups, which later groups read.
    /// - logits: `[max(K, headChannels)]` Int32 scratch.
    @inline(__always)
    func headWeights(group: Int, horizontal: UnsafePointer<Int16>, rectified: UnsafeMutablePointer<Int16>,
                     hidden hiddenValues: UnsafeMutablePointer<Int16>, logits logitValues: UnsafeMutablePointer<Int32>,
                     weights: UnsafeMutablePointer<UInt32>) {
        let per = channels / groups
        for i in group * per..<(group + 1) * per { rectified[i] = max(horizontal[i], 0) }
        let hiddenPer = headChannels / groups
        let h = hidden
        let hiddenFirst = group * hiddenPer
        let sums = logitValues  // `[max(K, headChannels)]`: first the hidden layer's sums
        sums.update(from: h.bias + hiddenFirst, count: hiddenPer)
        multiplyAccumulate(rows: 1, outputs: hiddenPer, length: (group + 1) * per, rectified, channels,
                           h.weight + hiddenFirst * channels, channels, into: sums, hiddenPer)
        for j in 0..<hiddenPer {
            let o = hiddenFirst + j
            hiddenValues[o] = Int16(truncatingIfNeeded: clamp(h.rescale(sums[j], o), 0, Int64(IntegerFormat.activationLimit)))
        }
        let n = (group + 1) * hiddenPer
        let l = logits
        let first = group * symbols
        logitValues.update(from: l.bias + first, count: symbols)
        multiplyAccumulate(rows: 1, outputs: symbols, length: n, hiddenValues, headChannels,
                           l.weight + first * headChannels, headChannels, into: logitValues, symbols)
        vqk_logit_weights(symbols, logitValues, l.rescale.multiplier + first, l.rescale.shift + first,
                          Int32(IntegerFormat.logitLimit), expTable, expLast, logitValues, weights)
    }
}
