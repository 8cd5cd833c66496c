/// The integer prior's building blocks, shared by batch evaluation (the encoder) and incremental
/// evaluation (the decoder). Every function is exact integer arithmetic; sums cannot overflow
/// for a validated network (`IntegerPrior` checks the accumulator budget on load), so the order
/// in which products are added never matters.
///
/// Activation rows are padded: `[reach + width + reach][channels]` Int16, the `reach` columns on
/// each side zero, real column c at padded column `reach + c`. The window of a kernel centred on
/// column c then starts at padded column c and is contiguous.

/// Σ w[i] · x[i] for i in 0..<n, in Int32.
@inline(__always)
func dot(_ w: UnsafePointer<Int16>, _ x: UnsafePointer<Int16>, _ n: Int) -> Int32 {
    var sum: Int32 = 0
    for i in 0..<n { sum &+= Int32(truncatingIfNeeded: w[i]) &* Int32(truncatingIfNeeded: x[i]) }
    return sum
}

/// Four dot products of one weight row with four inputs (one weight load serves four positions).
@inline(__always)
func dot4(_ w: UnsafePointer<Int16>, _ x0: UnsafePointer<Int16>, _ x1: UnsafePointer<Int16>,
          _ x2: UnsafePointer<Int16>, _ x3: UnsafePointer<Int16>, _ n: Int) -> (Int32, Int32, Int32, Int32) {
    var s0: Int32 = 0, s1: Int32 = 0, s2: Int32 = 0, s3: Int32 = 0
    for i in 0..<n {
        let wi = Int32(truncatingIfNeeded: w[i])
        s0 &+= wi &* Int32(truncatingIfNeeded: x0[i])
        s1 &+= wi &* Int32(truncatingIfNeeded: x1[i])
        s2 &+= wi &* Int32(truncatingIfNeeded: x2[i])
        s3 &+= wi &* Int32(truncatingIfNeeded: x3[i])
    }
    return (s0, s1, s2, s3)
}

/// Dot products of four consecutive weight rows (`stride` apart) with one input.
@inline(__always)
func dot4Rows(_ w: UnsafePointer<Int16>, stride: Int, _ x: UnsafePointer<Int16>, _ n: Int) -> (Int32, Int32, Int32, Int32) {
    let (w0, w1, w2, w3) = (w, w + stride, w + 2 * stride, w + 3 * stride)
    var s0: Int32 = 0, s1: Int32 = 0, s2: Int32 = 0, s3: Int32 = 0
    for i in 0..<n {
        let xi = Int32(truncatingIfNeeded: x[i])
        s0 &+= Int32(truncatingIfNeeded: w0[i]) &* xi
        s1 &+= Int32(truncatingIfNeeded: w1[i]) &* xi
        s2 &+= Int32(truncatingIfNeeded: w2[i]) &* xi
        s3 &+= Int32(truncatingIfNeeded: w3[i]) &* xi
    }
    return (s0, s1, s2, s3)
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
        for o in 0..<c2 {
            let bias = block.verticalBias[o]
            if let condition {
                for col in 0..<width { accumulators[col * c2 + o] = bias &+ condition.vertical[col * c2 + o] }
            } else {
                for col in 0..<width { accumulators[col * c2 + o] = bias }
            }
            for (ky, row) in rows.enumerated() {
                guard let row else { continue }
                let w = block.vertical + (o * block.verticalRows + ky) * span
                var col = 0
                while col + 4 <= width {
                    let x = row + col * cin
                    let (s0, s1, s2, s3) = dot4(w, x, x + cin, x + 2 * cin, x + 3 * cin, span)
                    accumulators[col * c2 + o] &+= s0
                    accumulators[(col + 1) * c2 + o] &+= s1
                    accumulators[(col + 2) * c2 + o] &+= s2
                    accumulators[(col + 3) * c2 + o] &+= s3
                    col += 4
                }
                while col < width {
                    accumulators[col * c2 + o] &+= dot(w, row + col * cin, span)
                    col += 1
                }
            }
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
        for o in 0..<c2 {
            let w = block.link + o * c2
            let bias = block.horizontalBias[o]
            var col = 0
            while col + 4 <= width {
                let x = values + col * c2
                let (s0, s1, s2, s3) = dot4(w, x, x + c2, x + 2 * c2, x + 3 * c2, c2)
                link[col * c2 + o] = bias &+ s0
                link[(col + 1) * c2 + o] = bias &+ s1
                link[(col + 2) * c2 + o] = bias &+ s2
                link[(col + 3) * c2 + o] = bias &+ s3
                col += 4
            }
            while col < width {
                link[col * c2 + o] = bias &+ dot(w, values + col * c2, c2)
                col += 1
            }
        }
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
        for o in 0..<c2 {
            for col in 0..<width { vertical[col * c2 + o] = 0 }
            for (ky, row) in rows.enumerated() {
                guard let row else { continue }
                let w = cv + (o * 3 + ky) * span
                var col = 0
                while col + 4 <= width {
                    let x = row + col * d
                    let (s0, s1, s2, s3) = dot4(w, x, x + d, x + 2 * d, x + 3 * d, span)
                    vertical[col * c2 + o] &+= s0
                    vertical[(col + 1) * c2 + o] &+= s1
                    vertical[(col + 2) * c2 + o] &+= s2
                    vertical[(col + 3) * c2 + o] &+= s3
                    col += 4
                }
                while col < width {
                    vertical[col * c2 + o] &+= dot(w, row + col * d, span)
                    col += 1
                }
            }
            let centre = rows[1]!
            let w = ch + o * d
            for col in 0..<width { horizontal[col * c2 + o] = dot(w, centre + (col + 1) * d, d) }
        }
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
        for o in 0..<c2 {
            let n = reach * cin + centreChannels(block, group: groupOf(o % c, c, groups))
            let w = block.horizontal + o * taps
            var col = 0
            while col + 4 <= width {
                let x = input + col * cin
                let (s0, s1, s2, s3) = dot4(w, x, x + cin, x + 2 * cin, x + 3 * cin, n)
                accumulators[col * c2 + o] = link[col * c2 + o] &+ s0
                accumulators[(col + 1) * c2 + o] = link[(col + 1) * c2 + o] &+ s1
                accumulators[(col + 2) * c2 + o] = link[(col + 2) * c2 + o] &+ s2
                accumulators[(col + 3) * c2 + o] = link[(col + 3) * c2 + o] &+ s3
                col += 4
            }
            while col < width {
                accumulators[col * c2 + o] = link[col * c2 + o] &+ dot(w, input + col * cin, n)
                col += 1
            }
        }
        for col in 0..<width {
            let a = accumulators + col * c2
            for i in 0..<c {
                gates[col * c + i] = gate(tanhTable[lookupIndex(block.horizontalIndex, a[i], i)],
                                          sigmoidTable[lookupIndex(block.horizontalIndex, a[c + i], c + i)])
            }
        }
        let out = block.output
        for o in 0..<c {
            let n = (groupOf(o, c, groups) + 1) * (c / groups)
            let w = out.weight + o * c
            for col in 0..<width {
                let sum = out.bias[o] &+ dot(w, gates + col * c, n)
                let added = activation(out.rescale(sum, o))
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
    @inline(__always)
    func horizontalGroup(_ block: Block, group: Int, column col: Int, input: UnsafePointer<Int16>,
                         link: UnsafePointer<Int32>, output: UnsafeMutablePointer<Int16>,
                         gates: UnsafeMutablePointer<Int16>) {
        let (c, c2, cin) = (channels, 2 * channels, block.inputChannels)
        let per = c / groups
        let taps = (reach + 1) * cin
        let n = reach * cin + centreChannels(block, group: group)
        let x = input + col * cin
        let l = link + col * c2
        for i in group * per..<(group + 1) * per {
            let a = l[i] &+ dot(block.horizontal + i * taps, x, n)
            let b = l[c + i] &+ dot(block.horizontal + (c + i) * taps, x, n)
            gates[i] = gate(tanhTable[lookupIndex(block.horizontalIndex, a, i)],
                            sigmoidTable[lookupIndex(block.horizontalIndex, b, c + i)])
        }
        let out = block.output
        for o in group * per..<(group + 1) * per {
            let sum = out.bias[o] &+ dot(out.weight + o * c, gates, (group + 1) * per)
            let added = activation(out.rescale(sum, o))
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
    /// - logits: `[K]` Int32 scratch.
    @inline(__always)
    func headWeights(group: Int, horizontal: UnsafePointer<Int16>, rectified: UnsafeMutablePointer<Int16>,
                     hidden hiddenValues: UnsafeMutablePointer<Int16>, logits logitValues: UnsafeMutablePointer<Int32>,
                     weights: UnsafeMutablePointer<UInt32>) {
        let per = channels / groups
        for i in group * per..<(group + 1) * per { rectified[i] = max(horizontal[i], 0) }
        let hiddenPer = headChannels / groups
        let h = hidden
        for o in group * hiddenPer..<(group + 1) * hiddenPer {
            let sum = h.bias[o] &+ dot(h.weight + o * channels, rectified, (group + 1) * per)
            hiddenValues[o] = Int16(truncatingIfNeeded: clamp(h.rescale(sum, o), 0, Int64(IntegerFormat.activationLimit)))
        }
        let n = (group + 1) * hiddenPer
        let l = logits
        let first = group * symbols
        let bias = l.bias + first
        var s = 0
        while s + 4 <= symbols {
            let (s0, s1, s2, s3) = dot4Rows(l.weight + (first + s) * headChannels, stride: headChannels, hiddenValues, n)
            logitValues[s] = bias[s] &+ s0
            logitValues[s + 1] = bias[s + 1] &+ s1
            logitValues[s + 2] = bias[s + 2] &+ s2
            logitValues[s + 3] = bias[s + 3] &+ s3
            s += 4
        }
        while s < symbols {
            logitValues[s] = bias[s] &+ dot(l.weight + (first + s) * headChannels, hiddenValues, n)
            s += 1
        }
        var maximum = Int32.min
        for s in 0..<symbols {
            let value = Int32(truncatingIfNeeded: clamp(l.rescale(logitValues[s], first + s),
                                                        -IntegerFormat.logitLimit, IntegerFormat.logitLimit))
            logitValues[s] = value
            maximum = max(maximum, value)
        }
        for s in 0..<symbols {
            let distance = min(maximum &- logitValues[s], expLast)
            weights[s] = UInt32(truncatingIfNeeded: expTable[Int(distance)])
        }
    }
}
