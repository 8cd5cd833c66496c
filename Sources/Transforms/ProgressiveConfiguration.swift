import Foundation

/// The shape of a progressive VQ-VAE: one analysis/synthesis pair whose latent is quantised by S
/// residual stages, so that one model codes at S rates (quality level n = the first n stages).
///
/// The latent `[N, latentChannels, H/stride, W/stride]` is quantised by stage 1; stage k quantises
/// what stages 1…k−1 left. Stage k splits the latent channels into `groups` product-codebook
/// groups of `latentChannels / groups` channels with `codebookSize` codes each.
///
/// Stored in a model file as the metadata `rvq.config`: compact JSON with sorted keys, stages as
/// `[groups, codebookSize]` pairs, first stage first, e.g.
/// `{"latentChannels":64,"stages":[[1,512],[2,512],[4,512],[8,512]],"stride":8,"width":64}`.
public struct ProgressiveConfiguration: Sendable, Equatable {
    /// One residual stage: `groups` codebooks of `codebookSize` vectors.
    public struct Stage: Sendable, Equatable {
        public var groups: Int
        public var codebookSize: Int
        public init(groups: Int, codebookSize: Int) {
            self.groups = groups
            self.codebookSize = codebookSize
        }
    }

    /// Downsampling factor of the analysis transform: a power of two, 2 ... 64.
    public var stride: Int
    /// Channels of the transforms' hidden layers.
    public var width: Int
    /// Channels of the latent map (D); a multiple of every stage's groups.
    public var latentChannels: Int
    /// The residual stages, first (coarsest) first.
    public var stages: [Stage]

    public init(stride: Int, width: Int, latentChannels: Int, stages: [Stage]) {
        self.stride = stride
        self.width = width
        self.latentChannels = latentChannels
        self.stages = stages
    }

    /// Most stages a model file may declare (a model file is untrusted input).
    public static let maximumStages = 16

    /// The one-stage configuration with the transforms of this model and stage `index`'s codebooks
    /// (`index` 0-based): what the transforms' layer shapes and weight checks depend on.
    public func singleStage(_ index: Int) -> VQVAEConfiguration {
        VQVAEConfiguration(stride: stride, width: width, latentChannels: latentChannels,
                           groups: stages[index].groups, codebookSize: stages[index].codebookSize)
    }

    /// Why this configuration cannot make a model, or nil when it can. One sentence naming the field.
    public var problem: String? {
        if stages.isEmpty || stages.count > Self.maximumStages {
            return "stages must be 1 to \(Self.maximumStages), found \(stages.count)"
        }
        for index in stages.indices {
            if let problem = singleStage(index).problem {
                return stages.count == 1 ? problem : "stage \(index + 1): \(problem)"
            }
        }
        return nil
    }

    /// Upper bound of the rate of the first `stages` stages, in bits per pixel: Σ G_k log2 K_k / stride².
    public func boundBitsPerPixel(stages count: Int) -> Double {
        stages.prefix(count).reduce(0.0) { $0 + Double($1.groups) * log2(Double($1.codebookSize)) }
            / Double(stride * stride)
    }

    /// A lower bound on the values a model file of this configuration stores under `analysis.`,
    /// `synthesis.` and `quantizer.stage{k}.codebook` (see ``VQVAEConfiguration/minimumStoredValues``).
    public var minimumStoredValues: Int {
        let transforms = singleStage(0).minimumStoredValues - stages[0].codebookSize * latentChannels
        return transforms + stages.reduce(0) { $0 + $1.codebookSize * latentChannels }
    }

    /// The JSON stored as `rvq.config`.
    public var json: String {
        let list = stages.map { "[\($0.groups),\($0.codebookSize)]" }.joined(separator: ",")
        return "{\"latentChannels\":\(latentChannels),\"stages\":[\(list)],\"stride\":\(stride),\"width\":\(width)}"
    }

    /// Parses `rvq.config` JSON; nil when it is not an object with integer `latentChannels`,
    /// `stride`, `width` and a list of `[groups, codebookSize]` integer pairs `stages`.
    public init?(json: String) {
        struct Stored: Decodable { var stride: Int, width: Int, latentChannels: Int, stages: [[Int]] }
        guard let stored = try? JSONDecoder().decode(Stored.self, from: Data(json.utf8)),
              stored.stages.allSatisfy({ $0.count == 2 }) else { return nil }
        self.init(stride: stored.stride, width: stored.width, latentChannels: stored.latentChannels,
                  stages: stored.stages.map { Stage(groups: $0[0], codebookSize: $0[1]) })
    }
}
