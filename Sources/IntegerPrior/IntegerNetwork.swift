/// The integer prior's tensors in the layout its kernels read, in three contiguous arenas
/// (Int16 weights and tables, Int32 biases and the exp table, Int64 rescale pairs) that live as
/// long as the network. Immutable after `init`, hence safe to share between threads.
///
/// Weight layouts (row-major, output channel first, then kernel row, kernel column, input
/// channel): a dot product over one output channel's window reads contiguous memory, and a
/// window over a padded activation row (`[columns][channels]`) is contiguous too.
final class IntegerNetwork: @unchecked Sendable {
    let groups: Int
    let symbols: Int
    let embeddingDimension: Int
    let channels: Int
    let reach: Int
    let kernelSize: Int
    let headChannels: Int
    /// D of a stage prior's condition (the earlier stages' decoded latent); 0 for none.
    let conditionChannels: Int

    let embedding: UnsafePointer<Int16>    // [G, K, E]
    let blocks: [Block]
    let hidden: Linear                      // [headChannels, C]
    let logits: Linear                      // [G·K, headChannels]
    let tanhTable: UnsafePointer<Int16>     // centred: tanhTable[i] for i in −radius…radius
    let sigmoidTable: UnsafePointer<Int16>
    let lookupRadius: Int32
    let expTable: UnsafePointer<Int32>
    let expLast: Int32                      // index of the exp table's last entry

    /// Per-channel integer rescale: `(acc · multiplier + 2^(shift−1)) >> shift`.
    struct Rescale {
        let multiplier: UnsafePointer<Int64>
        let shift: UnsafePointer<Int64>

        @inline(__always)
        func callAsFunction(_ accumulator: Int32, _ channel: Int) -> Int64 {
            let s = shift[channel]
            return (Int64(accumulator) &* multiplier[channel] &+ (1 &<< (s &- 1))) &>> s
        }
    }

    struct Linear {
        let inputs: Int
        let weight: UnsafePointer<Int16>
        let bias: UnsafePointer<Int32>
        let rescale: Rescale
    }

    struct Block {
        let isFirst: Bool
        let inputChannels: Int
        let verticalRows: Int
        let vertical: UnsafePointer<Int16>      // [2C, rows, k, Cin]
        let verticalBias: UnsafePointer<Int32>
        let verticalIndex: Rescale
        let verticalValue: Rescale
        let horizontal: UnsafePointer<Int16>    // [2C, reach + 1, Cin]
        let link: UnsafePointer<Int16>          // [2C, 2C]
        let horizontalBias: UnsafePointer<Int32>
        let horizontalIndex: Rescale
        let output: Linear                      // [C, C]
        /// A stage prior's condition convolutions (nil without a condition): 3 × 3 into the
        /// vertical accumulators, 1 × 1 into the horizontal ones.
        let conditionVertical: UnsafePointer<Int16>?    // [2C, 3, 3, D]
        let conditionHorizontal: UnsafePointer<Int16>?  // [2C, D]
    }

    /// The decoded integer tensors of one block, in file layout (which is the kernel layout).
    struct BlockTensors {
        var vertical: [Int16], verticalBias: [Int32], verticalIndex: [Int64], verticalValue: [Int64]
        var horizontal: [Int16], link: [Int16], horizontalBias: [Int32], horizontalIndex: [Int64]
        var output: [Int16], outputBias: [Int32], outputRescale: [Int64]
        /// Empty without a condition.
        var conditionVertical: [Int16] = [], conditionHorizontal: [Int16] = []
    }

    private let int16Arena: UnsafeMutablePointer<Int16>
    private let int32Arena: UnsafeMutablePointer<Int32>
    private let int64Arena: UnsafeMutablePointer<Int64>

    /// Rescale arrays hold `[channel][multiplier, shift]` pairs, as stored. With
    /// `conditionChannels` > 0 every block carries its condition weights.
    init(configuration: PriorConfiguration, conditionChannels: Int = 0, embedding: [Int16], blocks: [BlockTensors],
         hidden: (weight: [Int16], bias: [Int32], rescale: [Int64]),
         logits: (weight: [Int16], bias: [Int32], rescale: [Int64]),
         tanhTable: [Int16], sigmoidTable: [Int16], expTable: [Int32]) {
        groups = configuration.groups
        symbols = configuration.codebookSize
        embeddingDimension = configuration.embeddingDimension
        channels = configuration.channels
        reach = configuration.reach
        kernelSize = configuration.kernelSize
        headChannels = configuration.headChannels
        self.conditionChannels = conditionChannels
        lookupRadius = Int32(tanhTable.count / 2)
        expLast = Int32(expTable.count - 1)

        var int16s = Arena<Int16>(), int32s = Arena<Int32>(), int64s = Arena<Int64>()
        let embeddingOffset = int16s.append(embedding)
        let tanhOffset = int16s.append(tanhTable), sigmoidOffset = int16s.append(sigmoidTable)
        let expOffset = int32s.append(expTable)
        func rescale(_ pairs: [Int64]) -> (Int, Int) {
            let n = pairs.count / 2
            let m = int64s.append((0..<n).map { pairs[2 * $0] })
            let s = int64s.append((0..<n).map { pairs[2 * $0 + 1] })
            return (m, s)
        }
        typealias BlockOffsets = (v: Int, vb: Int, vi: (Int, Int), vv: (Int, Int), h: Int, l: Int, hb: Int,
                                  hi: (Int, Int), o: Int, ob: Int, or: (Int, Int), cv: Int, ch: Int)
        var offsets: [BlockOffsets] = []
        for t in blocks {
            offsets.append((int16s.append(t.vertical), int32s.append(t.verticalBias), rescale(t.verticalIndex),
                            rescale(t.verticalValue), int16s.append(t.horizontal), int16s.append(t.link),
                            int32s.append(t.horizontalBias), rescale(t.horizontalIndex), int16s.append(t.output),
                            int32s.append(t.outputBias), rescale(t.outputRescale),
                            int16s.append(t.conditionVertical), int16s.append(t.conditionHorizontal)))
        }
        let hiddenOffsets = (int16s.append(hidden.weight), int32s.append(hidden.bias), rescale(hidden.rescale))
        let logitOffsets = (int16s.append(logits.weight), int32s.append(logits.bias), rescale(logits.rescale))

        int16Arena = int16s.allocate()
        int32Arena = int32s.allocate()
        int64Arena = int64s.allocate()
        let (p16, p32, p64) = (UnsafePointer(int16Arena), UnsafePointer(int32Arena), UnsafePointer(int64Arena))
        func r(_ o: (Int, Int)) -> Rescale { Rescale(multiplier: p64 + o.0, shift: p64 + o.1) }

        self.embedding = p16 + embeddingOffset
        self.tanhTable = p16 + tanhOffset + tanhTable.count / 2
        self.sigmoidTable = p16 + sigmoidOffset + sigmoidTable.count / 2
        self.expTable = p32 + expOffset
        let c = configuration.channels
        self.blocks = offsets.enumerated().map { b, o in
            let input = b == 0 ? configuration.groups * configuration.embeddingDimension : c
            return Block(isFirst: b == 0, inputChannels: input,
                         verticalRows: b == 0 ? configuration.reach : configuration.reach + 1,
                         vertical: p16 + o.v, verticalBias: p32 + o.vb, verticalIndex: r(o.vi),
                         verticalValue: r(o.vv), horizontal: p16 + o.h, link: p16 + o.l,
                         horizontalBias: p32 + o.hb, horizontalIndex: r(o.hi),
                         output: Linear(inputs: c, weight: p16 + o.o, bias: p32 + o.ob, rescale: r(o.or)),
                         conditionVertical: conditionChannels > 0 ? p16 + o.cv : nil,
                         conditionHorizontal: conditionChannels > 0 ? p16 + o.ch : nil)
        }
        self.hidden = Linear(inputs: c, weight: p16 + hiddenOffsets.0, bias: p32 + hiddenOffsets.1,
                             rescale: r(hiddenOffsets.2))
        self.logits = Linear(inputs: configuration.headChannels, weight: p16 + logitOffsets.0,
                             bias: p32 + logitOffsets.1, rescale: r(logitOffsets.2))
    }

    deinit {
        int16Arena.deallocate()
        int32Arena.deallocate()
        int64Arena.deallocate()
    }
}

/// Collects arrays into one allocation; `append` returns the element offset.
private struct Arena<Element> {
    private var elements: [Element] = []

    mutating func append(_ values: [Element]) -> Int {
        let offset = elements.count
        elements.append(contentsOf: values)
        return offset
    }

    /// A new buffer holding everything appended (at least one element, so never empty).
    func allocate() -> UnsafeMutablePointer<Element> {
        let buffer = UnsafeMutablePointer<Element>.allocate(capacity: max(elements.count, 1))
        if !elements.isEmpty {
            elements.withUnsafeBufferPointer { buffer.initialize(from: $0.baseAddress!, count: $0.count) }
        }
        return buffer
    }
}
