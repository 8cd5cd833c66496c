import Foundation

/// The shape of one stage's prior in a progressive (residual VQ) model: a PixelCNN prior over the
/// stage's symbol maps `[G_k, h, w]` (``PriorConfiguration``) that also reads, through unmasked
/// convolutions, the decoded latent of the earlier stages `[D, h, w]` (D = `conditionChannels`).
///
/// Stored as one element of the JSON list `rvq.prior.config` (float priors) and of the `stages`
/// list of `rvq.prior_int.config` (integer priors): the `prior.config` members plus
/// `conditionChannels`, 0 for a prior that reads no earlier stage (always stage 1).
public struct StagePriorConfiguration: Codable, Sendable, Equatable {
    public var groups: Int
    public var codebookSize: Int
    public var embeddingDimension: Int
    public var channels: Int
    public var blocks: Int
    public var kernelSize: Int
    public var headChannels: Int
    /// D: channels of the earlier stages' decoded latent this prior reads; 0 for none.
    public var conditionChannels: Int

    public init(prior: PriorConfiguration, conditionChannels: Int) {
        groups = prior.groups
        codebookSize = prior.codebookSize
        embeddingDimension = prior.embeddingDimension
        channels = prior.channels
        blocks = prior.blocks
        kernelSize = prior.kernelSize
        headChannels = prior.headChannels
        self.conditionChannels = conditionChannels
    }

    /// The PixelCNN part: everything but `conditionChannels`.
    public var prior: PriorConfiguration {
        PriorConfiguration(groups: groups, codebookSize: codebookSize, embeddingDimension: embeddingDimension,
                           channels: channels, blocks: blocks, kernelSize: kernelSize, headChannels: headChannels)
    }

    /// Throws `PriorError.invalidConfiguration` naming the first field out of range.
    public func validate() throws(PriorError) {
        guard (0...1024).contains(conditionChannels) else {
            throw .invalidConfiguration(field: "conditionChannels", value: conditionChannels, expected: "0…1024")
        }
        try prior.validate()
    }

    /// Parses and validates the JSON list stored under `key` (`rvq.prior.config`).
    package static func parseList(_ text: String?, key: String) throws(PriorError) -> [StagePriorConfiguration] {
        guard let text else { throw .missingMetadata(key: key) }
        let list: [StagePriorConfiguration]
        do {
            list = try JSONDecoder().decode([StagePriorConfiguration].self, from: Data(text.utf8))
        } catch {
            throw .malformedMetadata(key: key, reason: String(describing: error))
        }
        guard (1...16).contains(list.count) else {
            throw .malformedMetadata(key: key, reason: "a progressive model has 1 to 16 stages, found \(list.count)")
        }
        for configuration in list { try configuration.validate() }
        return list
    }
}
