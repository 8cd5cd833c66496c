import Foundation
import RangeCoder

/// The shape of a PixelCNN prior over symbol maps `[G, h, w]` (G codebook groups of K symbols).
///
/// Network (float and integer alike): a per-group embedding of E dimensions, one gated PixelCNN
/// block with mask `.a` and `blocks − 1` with mask `.b` (C channels per stack, k × k receptive
/// window), then a head on the horizontal stack: ReLU → 1×1 group-masked conv to `headChannels` →
/// ReLU → 1×1 group-masked conv to G·K logits. The receptive field of position (r, c) is rows
/// r − blocks·(k/2) … r − 1 × columns c ± blocks·(k/2), plus row r columns c − blocks·(k/2) … c − 1,
/// plus the earlier groups of (r, c) itself.
///
/// Stored as the JSON metadata `prior.config` of a model file.
public struct PriorConfiguration: Codable, Sendable, Equatable {
    /// G: codebook groups, coded in order 0..<G at each position.
    public var groups: Int
    /// K: symbols per group (the codebook size), 2…4096.
    public var codebookSize: Int
    /// E: embedding dimensions per group.
    public var embeddingDimension: Int
    /// C: channels of each stack (vertical and horizontal); a multiple of G.
    public var channels: Int
    /// Gated blocks, at least 1.
    public var blocks: Int
    /// k: odd, at least 3.
    public var kernelSize: Int
    /// Channels of the head's hidden layer, a multiple of G (group g owns a contiguous block).
    public var headChannels: Int

    /// The shape in one line, for messages: "G 4, K 512, E 16, C 64, 4 blocks, kernel 3, head 128".
    public var summary: String {
        "G \(groups), K \(codebookSize), E \(embeddingDimension), C \(channels), \(blocks) blocks, "
            + "kernel \(kernelSize), head \(headChannels)"
    }

    /// The defaults fit the codec's decode budget (see `PriorBenchmark`): 0.47 M multiply-adds per
    /// position for G = 4, K = 512, about 55 µs per position (all groups, tables included) on one
    /// core of the reference 2-core EPYC; C = 96 takes about 90 µs, C = 128 with 256 head
    /// channels about 150 µs.
    public init(groups: Int = 4, codebookSize: Int = 512, embeddingDimension: Int = 16, channels: Int = 64,
                blocks: Int = 4, kernelSize: Int = 3, headChannels: Int = 128) {
        self.groups = groups
        self.codebookSize = codebookSize
        self.embeddingDimension = embeddingDimension
        self.channels = channels
        self.blocks = blocks
        self.kernelSize = kernelSize
        self.headChannels = headChannels
    }

    /// Throws `PriorError.invalidConfiguration` naming the first field out of range.
    public func validate() throws(PriorError) {
        func check(_ ok: Bool, _ field: String, _ value: Int, _ expected: String) throws(PriorError) {
            if !ok { throw .invalidConfiguration(field: field, value: value, expected: expected) }
        }
        try check((1...64).contains(groups), "groups", groups, "1…64")
        try check(FrequencyTable.symbolCountRange.contains(codebookSize), "codebookSize", codebookSize,
                  "\(FrequencyTable.symbolCountRange.lowerBound)…\(FrequencyTable.symbolCountRange.upperBound)")
        try check((1...1024).contains(embeddingDimension), "embeddingDimension", embeddingDimension, "1…1024")
        try check((1...4096).contains(channels) && channels % groups == 0, "channels", channels,
                  "a multiple of groups (\(groups)) up to 4096")
        try check((1...64).contains(blocks), "blocks", blocks, "1…64")
        try check((3...15).contains(kernelSize) && kernelSize % 2 == 1, "kernelSize", kernelSize, "odd, 3…15")
        try check((1...8192).contains(headChannels) && headChannels % groups == 0, "headChannels", headChannels,
                  "a multiple of groups (\(groups)) up to 8192")
    }

    /// A lower bound on the number of values the float prior's tensors hold: its weights (embedding,
    /// every block's stacks, link and output, the head), without the biases. Computed without
    /// building the prior, so that loading can refuse a configuration its file cannot fill before
    /// allocating for it. Valid configurations keep it far below 2^63.
    public var minimumStoredValues: Int {
        let (g, k, e, c, h) = (groups, codebookSize, embeddingDimension, channels, reach)
        var count = g * k * e + headChannels * c + g * k * headChannels
        for block in 0..<blocks {
            let input = block == 0 ? g * e : c
            let verticalRows = block == 0 ? h : h + 1
            count += 2 * c * input * verticalRows * kernelSize + 2 * c * input * (h + 1) + 2 * c * 2 * c + c * c
        }
        return count
    }

    /// k / 2: how far a kernel reaches on each side.
    package var reach: Int { kernelSize / 2 }

    /// Compact JSON with sorted keys (the same bytes for the same configuration).
    package func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    /// Parses and validates the JSON stored under `key`.
    package static func parse(_ text: String?, key: String) throws(PriorError) -> PriorConfiguration {
        guard let text else { throw .missingMetadata(key: key) }
        let configuration: PriorConfiguration
        do {
            configuration = try JSONDecoder().decode(PriorConfiguration.self, from: Data(text.utf8))
        } catch {
            throw .malformedMetadata(key: key, reason: String(describing: error))
        }
        try configuration.validate()
        return configuration
    }
}
