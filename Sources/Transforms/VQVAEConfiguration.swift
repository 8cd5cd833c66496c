import Foundation

/// The shape of a VQ-VAE: what its analysis and synthesis transforms and its codebooks look like.
///
/// An image `[N, 3, H, W]` becomes a latent `[N, latentChannels, H/stride, W/stride]`, split into
/// `groups` channel groups of `dimension = latentChannels / groups` channels, each quantised with
/// its own codebook of `codebookSize` vectors (product quantisation). The symbols are
/// `[N, groups, H/stride, W/stride]`, at most `groups · log2(codebookSize)` bits per position.
///
/// Stored in a model file as the metadata `vqvae.config`, JSON with these five keys.
public struct VQVAEConfiguration: Codable, Sendable, Equatable {
    /// Downsampling factor of the analysis transform: a power of two, 2 ... 64.
    public var stride: Int
    /// Channels of the hidden layers (N in Ballé et al.).
    public var width: Int
    /// Channels of the latent map (D), a multiple of `groups`.
    public var latentChannels: Int
    /// Number of codebooks (G); each quantises `dimension` latent channels.
    public var groups: Int
    /// Vectors per codebook (K).
    public var codebookSize: Int

    public init(stride: Int = 8, width: Int = 128, latentChannels: Int = 64, groups: Int = 4, codebookSize: Int = 512) {
        self.stride = stride
        self.width = width
        self.latentChannels = latentChannels
        self.groups = groups
        self.codebookSize = codebookSize
    }

    /// Channels per group, the length of one codebook vector (d = D / G).
    public var dimension: Int { latentChannels / groups }

    /// Largest values accepted (a model file is untrusted input: these bound what loading allocates).
    public static let maximumWidth = 1024
    public static let maximumLatentChannels = 1024
    public static let maximumGroups = 64
    public static let maximumCodebookSize = 65536

    /// Why this configuration cannot make a model, or nil when it can. One sentence naming the field.
    public var problem: String? {
        if stride < 2 || stride > 64 || stride & (stride - 1) != 0 {
            return "stride must be a power of two from 2 to 64, found \(stride)"
        }
        if width < 1 || width > Self.maximumWidth { return "width must be 1 to \(Self.maximumWidth), found \(width)" }
        if groups < 1 || groups > Self.maximumGroups { return "groups must be 1 to \(Self.maximumGroups), found \(groups)" }
        if latentChannels < 1 || latentChannels > Self.maximumLatentChannels {
            return "latent channels must be 1 to \(Self.maximumLatentChannels), found \(latentChannels)"
        }
        if latentChannels % groups != 0 {
            return "latent channels (\(latentChannels)) must be a multiple of groups (\(groups))"
        }
        if codebookSize < 2 || codebookSize > Self.maximumCodebookSize {
            return "codebook size must be 2 to \(Self.maximumCodebookSize), found \(codebookSize)"
        }
        return nil
    }

    /// A lower bound on the number of values a model file of this configuration stores under
    /// `analysis.`, `synthesis.` and `quantizer.codebook`: the weights of every convolution and
    /// GDN, and the codebooks, without the biases. Computed without building the model, so that
    /// loading can refuse a configuration its file cannot fill before allocating for it.
    public var minimumStoredValues: Int {
        let levels = stride.trailingZeroBitCount
        let (n, d) = (width, latentChannels)
        let analysis = 3 * n * 25 + (levels - 1) * n * n * 25 + levels * n * n + n * d * 9
        let synthesis = d * n * 9 + levels * n * n + (levels - 1) * 4 * n * n * 9 + 12 * n * 9
        return analysis + synthesis + codebookSize * d
    }

    /// The JSON stored as `vqvae.config` (keys sorted, so equal configurations give equal text).
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding five integers cannot fail.
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    /// Parses `vqvae.config` JSON; nil when it is not an object with the five integer keys.
    public init?(json: String) {
        guard let value = try? JSONDecoder().decode(Self.self, from: Data(json.utf8)) else { return nil }
        self = value
    }
}
