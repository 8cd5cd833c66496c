"""The vqcodec model family in PyTorch, layer for layer the Swift engine's.

Each class names the Swift source it mirrors; the parameter names are the keys of a vqcodec model
file (Formats/model.md) without their component prefix (`analysis.`, `synthesis.`, `prior.`).

```
image s [N,3,H,W] ─▶ analysis ─▶ L [N,D,H/s,W/s] ─▶ nearest code per group ─▶ z [N,G,H/s,W/s]
                                                          │ codebook lookup
reconstruction ŝ [N,3,H,W] ◀─ synthesis ◀─ L̂ [N,D,H/s,W/s] ◀┘

z ─▶ embedding ─▶ gated block .a ─▶ (blocks − 1) × gated block .b ─▶ horizontal stack
  ─▶ ReLU ─▶ 1×1 (.b group mask) ─▶ ReLU ─▶ 1×1 (.b group mask) ─▶ logits [N,G·K,h,w]
```
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# Configurations (metadata `vqvae.config` and `prior.config`: compact JSON, sorted keys)


@dataclass(frozen=True)
class VQVAEConfig:
    """Sources/Transforms/VQVAEConfiguration.swift."""

    stride: int = 8
    width: int = 128
    latentChannels: int = 64
    groups: int = 4
    codebookSize: int = 512

    @property
    def dimension(self) -> int:
        return self.latentChannels // self.groups

    def problem(self) -> str | None:
        """Why the Swift reader would refuse this configuration, or None (the same limits)."""
        s = self.stride
        if s < 2 or s > 64 or s & (s - 1):
            return f"stride must be a power of two from 2 to 64, found {s}"
        if not 1 <= self.width <= 1024:
            return f"width must be 1 to 1024, found {self.width}"
        if not 1 <= self.groups <= 64:
            return f"groups must be 1 to 64, found {self.groups}"
        if not 1 <= self.latentChannels <= 1024:
            return f"latent channels must be 1 to 1024, found {self.latentChannels}"
        if self.latentChannels % self.groups:
            return f"latent channels ({self.latentChannels}) must be a multiple of groups ({self.groups})"
        if not 2 <= self.codebookSize <= 65536:
            return f"codebook size must be 2 to 65536, found {self.codebookSize}"
        return None

    def json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class PriorConfig:
    """Sources/Prior/PriorConfiguration.swift (defaults as `vqcodec train prior`)."""

    groups: int = 4
    codebookSize: int = 512
    embeddingDimension: int = 16
    channels: int = 64
    blocks: int = 4
    kernelSize: int = 3
    headChannels: int = 128

    def problem(self) -> str | None:
        g = self.groups
        checks = [
            (1 <= g <= 64, "groups", g, "1…64"),
            (2 <= self.codebookSize <= 4096, "codebookSize", self.codebookSize, "2…4096"),
            (1 <= self.embeddingDimension <= 1024, "embeddingDimension", self.embeddingDimension, "1…1024"),
            (1 <= self.channels <= 4096 and self.channels % g == 0, "channels", self.channels,
             f"a multiple of groups ({g}) up to 4096"),
            (1 <= self.blocks <= 64, "blocks", self.blocks, "1…64"),
            (3 <= self.kernelSize <= 15 and self.kernelSize % 2 == 1, "kernelSize", self.kernelSize, "odd, 3…15"),
            (1 <= self.headChannels <= 8192 and self.headChannels % g == 0, "headChannels", self.headChannels,
             f"a multiple of groups ({g}) up to 8192"),
        ]
        for ok, field, value, expected in checks:
            if not ok:
                return f"prior configuration: {field} is {value}, expected {expected}"
        return None

    def json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# Transforms (Sources/Engine/TransformNetworks.swift, GDN.swift, PixelShuffle.swift)


class _LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient passes straight through, except where x is below the bound
    and descent would push it further down (CompressAI's LowerBound; GDN.swift accumulateBounded)."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp_min(bound)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        passes = (x >= ctx.bound) | (grad < 0)
        return grad * passes, None


class GDN(nn.Module):
    """GDN (or IGDN with `inverse`): y_i = x_i / sqrt(beta_i + Σ_j gamma_ij x_j²) (× for IGDN).

    `beta` [C] and `gamma` [C, C] hold the values themselves, used as max(beta, 1e-6) and
    max(gamma, 0); initialised beta = 1, gamma = 0.1·I. Computed in float32 even under autocast:
    the squares overflow float16 and the square root is where precision matters.
    """

    beta_minimum = 1e-6

    def __init__(self, channels: int, inverse: bool = False):
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(0.1 * torch.eye(channels))

    def forward(self, x):
        with torch.autocast(device_type=x.device.type, enabled=False):
            if x.dtype in (torch.float16, torch.bfloat16):
                x = x.float()
            c = x.shape[1]
            beta = _LowerBound.apply(self.beta, self.beta_minimum)
            gamma = _LowerBound.apply(self.gamma, 0.0).reshape(c, c, 1, 1)
            norm = F.conv2d(x * x, gamma, beta)
            return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)


def _downsamplings(stride: int) -> int:
    if stride < 2 or stride & (stride - 1):
        raise ValueError(f"stride must be a power of two ≥ 2, found {stride}")
    return stride.bit_length() - 1


def make_analysis(stride=8, width=128, latent_channels=64, input_channels=3) -> nn.Sequential:
    """d × [Conv(5×5, stride 2, pad 2) GDN], then Conv(3×3, pad 1) to the latent; stride = 2^d."""
    layers, channels = [], input_channels
    for _ in range(_downsamplings(stride)):
        layers += [nn.Conv2d(channels, width, 5, stride=2, padding=2), GDN(width)]
        channels = width
    layers.append(nn.Conv2d(width, latent_channels, 3, padding=1))
    return nn.Sequential(*layers)


def make_synthesis(stride=8, width=128, latent_channels=64, output_channels=3) -> nn.Sequential:
    """Conv(3×3, D→N) IGDN, (d − 1) × [Conv(3×3, N→4N) PixelShuffle(2) IGDN], Conv(3×3, N→4·3)
    PixelShuffle(2): sub-pixel upsampling; nn.PixelShuffle's channel order is the Swift layer's."""
    layers = [nn.Conv2d(latent_channels, width, 3, padding=1), GDN(width, inverse=True)]
    for _ in range(_downsamplings(stride) - 1):
        layers += [nn.Conv2d(width, 4 * width, 3, padding=1), nn.PixelShuffle(2), GDN(width, inverse=True)]
    layers += [nn.Conv2d(width, 4 * output_channels, 3, padding=1), nn.PixelShuffle(2)]
    return nn.Sequential(*layers)


@torch.no_grad()
def widen_transforms(analysis: nn.Sequential, synthesis: nn.Sequential, source: dict[str, torch.Tensor],
                     stride: int, width: int):
    """Loads the transforms of a narrower model (`source`: `analysis.*` and `synthesis.*` of width
    `width`, same stride and latent channels) into `analysis` and `synthesis` of a larger width so
    that they compute exactly the source's functions (Net2Net's function-preserving widening).

    The old channels keep their weights; every weight from a new hidden channel into an old one,
    and from a new channel into the latent or the image, is zero, so the new channels cannot change
    what the old ones compute. Weights into the new channels keep their fresh initialisation (their
    activations are non-zero, so the zero weights out of them receive gradients at once), their
    biases are zero, and their GDN parameters are the fresh ones (β = 1, γ = 0.1·I) with no γ
    between old and new channels. PixelShuffle keeps sub-pixel planes 4c…4c+3 of channel c, so
    channel c's planes are at the same indices in the wider convolution."""
    new_width = analysis[0].out_channels
    if width > new_width:
        raise ValueError(f"cannot widen width {width} to the narrower {new_width}")
    w = width
    d = _downsamplings(stride)

    def conv(module: nn.Conv2d, key: str, rows: int | None, cols: int | None):
        weight, bias = source[key + ".weight"], source[key + ".bias"]
        r = weight.shape[0] if rows is None else rows
        c = weight.shape[1] if cols is None else cols
        if list(weight.shape) != [r, c, *module.weight.shape[2:]]:
            raise ValueError(f"{key}.weight has shape {list(weight.shape)}, expected {[r, c, *module.weight.shape[2:]]}")
        module.weight[:r, c:] = 0                      # new inputs into old outputs
        module.weight[:r, :c] = weight
        module.bias[:r] = bias
        module.bias[r:] = 0

    def gdn(module: GDN, key: str):
        module.beta[:w] = source[key + ".beta"]
        module.gamma[:w, :w] = source[key + ".gamma"]
        module.gamma[:w, w:] = 0
        module.gamma[w:, :w] = 0

    for i in range(d):
        conv(analysis[2 * i], f"analysis.{2 * i}", w, None if i == 0 else w)
        gdn(analysis[2 * i + 1], f"analysis.{2 * i + 1}")
    conv(analysis[2 * d], f"analysis.{2 * d}", None, w)
    conv(synthesis[0], "synthesis.0", w, None)
    gdn(synthesis[1], "synthesis.1")
    index = 2
    for _ in range(d - 1):
        conv(synthesis[index], f"synthesis.{index}", 4 * w, w)
        gdn(synthesis[index + 2], f"synthesis.{index + 2}")
        index += 3
    conv(synthesis[index], f"synthesis.{index}", None, w)


# ---------------------------------------------------------------------------------------------
# Quantizer (Sources/Quantizer/Codebooks.swift, EMAQuantizer.swift)


def _reduce(t: torch.Tensor) -> torch.Tensor:
    """Sum over the processes of a DDP run (the identity in a single process)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t)
    return t


def _broadcast(*tensors: torch.Tensor):
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        for t in tensors:
            dist.broadcast(t, 0)


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class EMAQuantizer(nn.Module):
    """G product codebooks of K vectors of d values, learned by exponential moving averages.

    Buffers (model-file names under `quantizer.`): `codebook` [G, K, d], and the training state
    `cluster_size` [G, K], `cluster_sum` [G, K, d], `steps_unused` [G, K] (int32).
    Nearest code by squared distance ‖c‖² − 2 x·c (ties: lowest index). Training: data-based
    initialisation from the first batch, EMA update with Laplace smoothing, and restarts of codes
    whose EMA count fell below `dead_code_threshold` or that no vector chose for
    `restart_patience` steps, onto encoder outputs drawn ∝ their squared quantisation error.
    Under DDP, counts and sums are summed over processes (every process keeps the same
    codebooks); initialisation and restarts happen on rank 0 and are broadcast.
    """

    def __init__(self, groups, codebook_size, dimension, decay=0.99, commitment=0.25,
                 dead_code_threshold=0.1, restart_patience=20):
        super().__init__()
        self.groups, self.codebook_size, self.dimension = groups, codebook_size, dimension
        self.decay, self.commitment = decay, commitment
        self.dead_code_threshold, self.restart_patience = dead_code_threshold, restart_patience
        self.register_buffer("codebook", torch.zeros(groups, codebook_size, dimension))
        self.register_buffer("cluster_size", torch.zeros(groups, codebook_size))
        self.register_buffer("cluster_sum", torch.zeros(groups, codebook_size, dimension))
        self.register_buffer("steps_unused", torch.zeros(groups, codebook_size, dtype=torch.int32))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    # Layout helpers: latent [N, G·d, h, w] ⇄ vectors [G, N·h·w, d]; symbols [N, G, h, w] ⇄ [G, N·h·w].
    def vectors(self, latent):
        n, _, h, w = latent.shape
        return latent.reshape(n, self.groups, self.dimension, h, w).permute(1, 0, 3, 4, 2).reshape(
            self.groups, n * h * w, self.dimension)

    def distances(self, vectors, with_norms: bool = False):
        """[G, M, d] → [G, M, K]: ‖e_c‖² − 2·v·e_c, which orders the codes as the squared distances
        do; with `with_norms`, + ‖v‖², the squared distances themselves."""
        norms = (self.codebook * self.codebook).sum(-1)                       # [G, K]
        distances = torch.baddbmm(norms.unsqueeze(1), vectors, self.codebook.transpose(1, 2), alpha=-2)
        return distances + (vectors * vectors).sum(-1, keepdim=True) if with_norms else distances

    def nearest(self, vectors):
        """[G, M, d] → symbols [G, M] (int64)."""
        return self.distances(vectors).argmin(-1)

    def symbols(self, latent):
        """latent [N, G·d, h, w] → symbols [N, G, h, w] (int64)."""
        n, _, h, w = latent.shape
        with torch.autocast(device_type=latent.device.type, enabled=False):
            flat = self.nearest(self.vectors(latent.float()))
        return flat.reshape(self.groups, n, h, w).permute(1, 0, 2, 3)

    def lookup(self, symbols):
        """symbols [N, G, h, w] → latent [N, G·d, h, w] of codebook vectors."""
        n, g, h, w = symbols.shape
        index = symbols.permute(1, 0, 2, 3).reshape(g, -1)                    # [G, M]
        vectors = torch.gather(self.codebook, 1, index.unsqueeze(-1).expand(-1, -1, self.dimension))
        return vectors.reshape(g, n, h, w, self.dimension).permute(1, 0, 4, 2, 3).reshape(n, g * self.dimension, h, w)

    @torch.no_grad()
    def initialise(self, vectors, generator):
        """Codes start as random encoder outputs of the first batch (plus ±0.005 noise for the
        codes beyond the batch's vector count)."""
        if _rank() == 0:
            count = vectors.shape[1]
            k = self.codebook_size
            for g in range(self.groups):
                pick = torch.randint(count, (k,), generator=generator, device=vectors.device)
                chosen = vectors[g, pick].clone()
                if k > count:
                    noise = (torch.rand(k - count, self.dimension, generator=generator, device=vectors.device) - 0.5) * 0.01
                    chosen[count:] += noise
                self.codebook[g] = chosen
                self.cluster_sum[g] = chosen
            self.cluster_size.fill_(1)
            self.steps_unused.zero_()
        _broadcast(self.codebook, self.cluster_sum, self.cluster_size, self.steps_unused)
        self.initialised.fill_(True)

    @torch.no_grad()
    def counts(self, symbols):
        """How often each code occurs in symbols [G, M]: [G, K] (float32)."""
        counts = torch.zeros(self.groups, self.codebook_size, device=symbols.device)
        return counts.scatter_add_(1, symbols, torch.ones_like(symbols, dtype=counts.dtype))

    @torch.no_grad()
    def update(self, vectors, symbols, generator):
        """EMA update from vectors [G, M, d] and their symbols [G, M], then dead-code restarts."""
        g_, k, d = self.groups, self.codebook_size, self.dimension
        counts = self.counts(symbols)
        sums = torch.zeros(g_, k, d, device=vectors.device)
        sums.scatter_add_(1, symbols.unsqueeze(-1).expand(-1, -1, d), vectors)
        _reduce(counts)
        _reduce(sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.cluster_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        epsilon = 1e-5
        total = self.cluster_size.sum(1, keepdim=True)
        smoothed = (self.cluster_size + epsilon) / (total + k * epsilon) * total
        self.codebook.copy_(self.cluster_sum / smoothed.unsqueeze(-1))
        self.steps_unused.copy_(torch.where(counts > 0, torch.zeros_like(self.steps_unused), self.steps_unused + 1))
        dead = self.cluster_size < self.dead_code_threshold
        if self.restart_patience > 0:
            dead |= self.steps_unused >= self.restart_patience
        restarted = dead.any().item()
        if restarted and _rank() == 0:
            chosen = torch.gather(self.codebook, 1, symbols.unsqueeze(-1).expand(-1, -1, d))
            errors = ((vectors - chosen) ** 2).sum(-1).double()              # [G, M]
            for g in range(g_):
                codes = dead[g].nonzero().flatten()
                if codes.numel() == 0:
                    continue
                if errors[g].sum() > 0:
                    pick = torch.multinomial(errors[g], codes.numel(), replacement=True, generator=generator)
                else:
                    pick = torch.randint(vectors.shape[1], (codes.numel(),), generator=generator, device=vectors.device)
                self.codebook[g, codes] = vectors[g, pick]
                self.cluster_sum[g, codes] = vectors[g, pick]
                self.cluster_size[g, codes] = 1
                self.steps_unused[g, codes] = 0
        if restarted:
            _broadcast(self.codebook, self.cluster_sum, self.cluster_size, self.steps_unused)
        return counts

    def forward(self, latent, generator=None):
        """Training quantisation of latent [N, G·d, h, w]: returns (quantized with straight-through
        gradient, commitment loss β·mean‖L − sg(L̂)‖², symbols [N, G, h, w], counts [G, K] summed
        over processes). L̂ uses the codebooks before this step's update. Always float32, even under
        autocast: distances in bfloat16 would pick the wrong codes."""
        with torch.autocast(device_type=latent.device.type, enabled=False):
            return self._forward(latent.float(), generator)

    def _forward(self, latent, generator):
        vectors = self.vectors(latent)
        if self.training and not bool(self.initialised):
            self.initialise(vectors.detach(), generator)
        flat = self.nearest(vectors.detach())
        n, _, h, w = latent.shape
        symbols = flat.reshape(self.groups, n, h, w).permute(1, 0, 2, 3)
        quantized = self.lookup(symbols)
        commitment = self.commitment * F.mse_loss(latent, quantized)
        counts = None
        if self.training:
            counts = self.update(vectors.detach(), flat, generator)
        return latent + (quantized - latent).detach(), commitment, symbols, counts


class VQVAE(nn.Module):
    """Sources/Transforms/VQVAE.swift: analysis, EMA product quantizer, synthesis.

    Images are RGB floats in [0, 1] (pixel / 255), H and W multiples of the stride.
    """

    codebook_decay = 0.99
    commitment = 0.25
    dead_code_threshold = 0.1
    restart_patience = 20

    def __init__(self, config: VQVAEConfig):
        super().__init__()
        problem = config.problem()
        if problem:
            raise ValueError(problem)
        self.config = config
        self.analysis = make_analysis(config.stride, config.width, config.latentChannels)
        self.synthesis = make_synthesis(config.stride, config.width, config.latentChannels)
        self.quantizer = EMAQuantizer(config.groups, config.codebookSize, config.dimension, self.codebook_decay,
                                      self.commitment, self.dead_code_threshold, self.restart_patience)

    def forward(self, images, generator=None):
        """One training forward pass: (reconstruction, mse, commitment, symbols, counts)."""
        latent = self.analysis(images)
        quantized, commitment, symbols, counts = self.quantizer(latent, generator)
        reconstruction = self.synthesis(quantized)
        mse = F.mse_loss(reconstruction.float(), images.float())
        return reconstruction, mse, commitment, symbols, counts

    @torch.no_grad()
    def encode(self, images):
        return self.quantizer.symbols(self.analysis(images))

    @torch.no_grad()
    def decode(self, symbols):
        return self.synthesis(self.quantizer.lookup(symbols))


# ---------------------------------------------------------------------------------------------
# Progressive model: residual quantisation in stages, trained with quantiser dropout


@dataclass(frozen=True)
class RVQConfig:
    """Metadata `rvq.config` of a progressive (residual VQ) model: the transforms of a VQ-VAE and
    `stages`, a list of [groups, codebookSize] per stage, first stage first. Stage k splits the
    latent's D channels into G_k groups of D / G_k values, like a one-stage product quantizer."""

    stride: int = 8
    width: int = 64
    latentChannels: int = 64
    stages: tuple = ((1, 512), (2, 512), (4, 512), (4, 512))

    def __post_init__(self):
        object.__setattr__(self, "stages", tuple(tuple(int(v) for v in stage) for stage in self.stages))

    def stage(self, k: int) -> VQVAEConfig:
        """Stage k (0-based) as a one-stage configuration (its own limits apply)."""
        g, kk = self.stages[k]
        return VQVAEConfig(self.stride, self.width, self.latentChannels, g, kk)

    def problem(self) -> str | None:
        if not 1 <= len(self.stages) <= 16:
            return f"stages: 1 to 16 stages, found {len(self.stages)}"
        for k, stage in enumerate(self.stages):
            if len(stage) != 2:
                return f"stage {k + 1}: expected [groups, codebookSize], found {list(stage)}"
            problem = self.stage(k).problem()
            if problem:
                return f"stage {k + 1}: {problem}"
        return None

    def bits_per_position(self, stages: int) -> float:
        """The bound G·log2 K summed over the first `stages` stages (bits per latent position)."""
        return sum(g * math.log2(k) for g, k in self.stages[:stages])

    def json(self) -> str:
        value = asdict(self)
        value["stages"] = [list(stage) for stage in self.stages]
        return json.dumps(value, sort_keys=True, separators=(",", ":"))


class ResidualQuantizer(nn.Module):
    """S stages of EMA product quantizers; stage k quantises what stages 1…k−1 left.

        r₁ = L,  q_k = Q_k(r_k),  r_{k+1} = r_k − q_k,  L̂(n) = q₁ + … + q_n

    Each stage is an `EMAQuantizer` (data-based initialisation on the residuals of the first
    batch, EMA updates, dead-code restarts) with its own G_k × K_k codebooks. Every stage's
    residual is computed for every example whatever its stage count: the residual of stage k does
    not depend on how many stages an example keeps, so each codebook learns from the whole batch.
    Modules: `stage1` … `stageS` (1-based, as quality levels are counted).
    """

    def __init__(self, config: RVQConfig, decay=0.99, commitment=0.25, dead_code_threshold=0.1, restart_patience=20,
                 commitment_target="stages"):
        super().__init__()
        if commitment_target not in ("stages", "total"):
            raise ValueError(f"commitment target must be \"stages\" or \"total\", found \"{commitment_target}\"")
        self.config = config
        self.commitment = commitment
        self.commitment_target = commitment_target
        for k, (g, kk) in enumerate(config.stages):
            setattr(self, f"stage{k + 1}", EMAQuantizer(g, kk, config.latentChannels // g, decay, commitment,
                                                         dead_code_threshold, restart_patience))

    @property
    def count(self) -> int:
        return len(self.config.stages)

    def stages(self) -> list[EMAQuantizer]:
        return [getattr(self, f"stage{k + 1}") for k in range(self.count)]

    def quantize(self, latent):
        """Evaluation: latent [N, D, h, w] → (symbols per stage [N, G_k, h, w], the per-stage
        quantized latents q_k [N, D, h, w]), nearest codes only, no update."""
        residual, symbols, parts = latent, [], []
        for q in self.stages():
            s = q.symbols(residual)
            part = q.lookup(s)
            symbols.append(s)
            parts.append(part)
            residual = residual - part
        return symbols, parts

    def lookup(self, symbols: list[torch.Tensor]) -> torch.Tensor:
        """The decoder's latent from the symbols of the first len(symbols) stages."""
        return sum(q.lookup(s) for q, s in zip(self.stages(), symbols))

    def forward(self, latent, stage_counts, generator=None):
        """Training quantisation with quantiser dropout.

        latent [N, D, h, w]; stage_counts int64 [N], example i keeping stages 1…n_i. Returns
        (quantized [N, D, h, w] = Σ_{k ≤ n_i} q_k with a straight-through gradient, commitment loss,
        symbols per stage, counts per stage [G_k, K_k], the codebooks updated only in training
        mode). The commitment loss is, with target
        "stages", Σ_k β·mean‖r_k − sg(q_k)‖² over the examples that use stage k (each used stage
        pulls the latent towards its partial sum, as in SoundStream and DAC); with "total",
        β·mean‖L − sg(Σ_{k≤n_i} q_k)‖² (only the latent the decoder gets). Float32 even under
        autocast, like `EMAQuantizer`."""
        with torch.autocast(device_type=latent.device.type, enabled=False):
            latent = latent.float()
            n = latent.shape[0]
            residual = latent
            total = torch.zeros_like(latent)
            commitment = latent.new_zeros(())
            symbols, counts = [], []
            for k, q in enumerate(self.stages()):
                use = (stage_counts > k)                                         # [N]
                vectors = q.vectors(residual.detach())
                if self.training and not bool(q.initialised):
                    q.initialise(vectors, generator)
                flat = q.nearest(vectors)
                s = flat.reshape(q.groups, n, *latent.shape[2:]).permute(1, 0, 2, 3)
                part = q.lookup(s)                                               # codebooks before the update
                c = q.update(vectors, flat, generator) if self.training else q.counts(flat)   # every example
                if bool(use.any()) and self.commitment_target == "stages":
                    err = ((residual - part) ** 2).mean(dim=(1, 2, 3))           # [N]
                    commitment = commitment + self.commitment * (err * use).sum() / use.sum()
                total = total + part * use.view(n, 1, 1, 1).to(part.dtype)
                residual = residual - part
                symbols.append(s)
                counts.append(c)
            if self.commitment_target == "total":
                commitment = self.commitment * F.mse_loss(latent, total.detach())
            quantized = latent + (total - latent).detach()
            return quantized, commitment, symbols, counts


def stage_counts(batch: int, stages: int, full_probability: float, generator: torch.Generator,
                 device=None) -> torch.Tensor:
    """Quantiser dropout: per example, all `stages` stages with probability `full_probability`,
    else a number uniform in 1…stages. int64 [batch]."""
    full = torch.rand(batch, generator=generator, device=generator.device) < full_probability
    uniform = torch.randint(1, stages + 1, (batch,), generator=generator, device=generator.device)
    counts = torch.where(full, torch.full_like(uniform, stages), uniform)
    return counts.to(device) if device is not None else counts


SOFT_RATE_CANDIDATES = 16


def soft_stage_bits(quantizer: "ResidualQuantizer", latent, symbols, stage_counts, prior, temperature: float):
    """A differentiable stand-in for the bits the stage priors charge, per example (mean over the
    batch; stage k counted for the examples that use it, as in quantiser dropout).

    Stage k's symbols have hard contexts (the symbols before them and the decoded latent of the
    earlier stages, as the decoder sees them), so the priors' tables log p_k(c | context) are fixed
    for the pass; what the analysis can change is which code a residual r_k lands on. The soft
    assignment q(c) = softmax(−‖r_k − e_c‖² / τ_k) over the `SOFT_RATE_CANDIDATES` codes nearest to
    r_k, τ_k = temperature × the batch's mean squared distance to the nearest code, makes that
    choice differentiable (farther codes would get no weight worth computing), and the term is
    Σ_c q(c) · (−log2 p_k(c | context)), summed over positions and groups: its gradient moves each
    residual towards the codes the prior finds likely there. The priors are not trained by it
    (their tables are computed without gradient). Float32 even under autocast."""
    if temperature <= 0:
        raise ValueError(f"the rate temperature must be > 0, found {temperature}")
    with torch.autocast(device_type=latent.device.type, enabled=False):
        residual = latent.float()
        n, _, h, w = residual.shape
        total = residual.new_zeros(())
        decoded = None
        for k, (q, stage_prior) in enumerate(zip(quantizer.stages(), prior.stages())):
            use = (stage_counts > k).to(residual.dtype)                           # [N]
            s = symbols[k]
            part = q.lookup(s)
            if bool(use.any()):
                with torch.no_grad():
                    logits = stage_prior(s, decoded).float()                      # [N, G·K, h, w]
                    logp = F.log_softmax(logits.reshape(n, q.groups, q.codebook_size, h, w), dim=2)
                    logp = logp.permute(1, 0, 3, 4, 2).reshape(q.groups, n * h * w, q.codebook_size)
                vectors = q.vectors(residual)                                     # [G, M, d]
                with torch.no_grad():
                    count = min(SOFT_RATE_CANDIDATES, q.codebook_size)
                    nearest, candidates = q.distances(vectors, with_norms=True).topk(count, dim=-1, largest=False)
                    tau = temperature * nearest[..., 0].mean().clamp_min(1e-12)
                    logp = logp.gather(-1, candidates)
                g, m, c = candidates.shape
                codes = torch.gather(q.codebook, 1, candidates.reshape(g, m * c, 1).expand(-1, -1, q.dimension))
                distances = ((vectors.unsqueeze(2) - codes.reshape(g, m, c, q.dimension)) ** 2).sum(-1)
                soft = torch.softmax(-distances / tau, dim=-1)
                bits = -(soft * logp).sum(-1) / math.log(2)                       # [G, M]
                per_example = bits.reshape(q.groups, n, h * w).sum(dim=(0, 2))    # [N]
                total = total + (per_example * use).sum() / use.sum()
            decoded = part if decoded is None else decoded + part
            residual = residual - part
        return total


class ProgressiveVQVAE(nn.Module):
    """One transform pair for every rate: analysis, `ResidualQuantizer`, synthesis of the running
    sum of the first n stages (quality level n). Images RGB in [0, 1], sides multiples of the stride.

    ```
    s ─▶ analysis ─▶ L ─▶ Q₁ ─▶ q₁ ─┬───────────────▶ Σ_{k≤n} q_k ─▶ synthesis ─▶ ŝ(n)
                     └ L − q₁ ─▶ Q₂ ─▶ q₂ ┘ … ─▶ Q_S ─▶ q_S
    ```
    """

    codebook_decay = 0.99
    commitment = 0.25
    dead_code_threshold = 0.1
    restart_patience = 20

    def __init__(self, config: RVQConfig, commitment_target: str = "stages"):
        super().__init__()
        problem = config.problem()
        if problem:
            raise ValueError(problem)
        self.config = config
        self.analysis = make_analysis(config.stride, config.width, config.latentChannels)
        self.synthesis = make_synthesis(config.stride, config.width, config.latentChannels)
        self.quantizer = ResidualQuantizer(config, self.codebook_decay, self.commitment, self.dead_code_threshold,
                                           self.restart_patience, commitment_target)

    def forward(self, images, stage_counts, generator=None, rate=None):
        """One training pass: (reconstruction of each example from its first n_i stages, mse,
        commitment, symbols per stage, counts per stage). With `rate` = (stage priors, temperature),
        a sixth element: `soft_stage_bits` of the batch's first quarter of examples (at least one), in
        bits per pixel (a rate term for the loss)."""
        latent = self.analysis(images)
        quantized, commitment, symbols, counts = self.quantizer(latent, stage_counts, generator)
        reconstruction = self.synthesis(quantized)
        mse = F.mse_loss(reconstruction.float(), images.float())
        if rate is None:
            return reconstruction, mse, commitment, symbols, counts
        # The priors and the soft assignment cost more than the transforms' step; the batch's first
        # quarter of examples (random crops, so the estimate stays unbiased) gives the rate term.
        prior, temperature = rate
        r = max(1, images.shape[0] // 4)
        bits = soft_stage_bits(self.quantizer, latent[:r], [s[:r] for s in symbols], stage_counts[:r], prior,
                               temperature)
        return reconstruction, mse, commitment, symbols, counts, bits / (images.shape[2] * images.shape[3])

    def forward_synthesis(self, images, stage_counts):
        """A training pass that trains the synthesis alone: the analysis and the stage codebooks
        are fixed (no gradient, no codebook update), so the symbols stay those of the model it
        starts from and priors trained on them still fit. Returns (reconstruction, mse, zero
        commitment, symbols per stage, counts per stage [G_k, K_k] of every example's codes)."""
        if self.quantizer.training:
            raise RuntimeError("forward_synthesis needs the quantizer in eval mode (no codebook updates)")
        with torch.no_grad(), torch.autocast(device_type=images.device.type, enabled=False):
            # float32 even under --amp: the symbols must be those the priors were trained on
            quantized, _, symbols, counts = self.quantizer(self.analysis(images.float()), stage_counts)
        reconstruction = self.synthesis(quantized)
        mse = F.mse_loss(reconstruction.float(), images.float())
        return reconstruction, mse, mse.new_zeros(()), symbols, counts

    @torch.no_grad()
    def encode(self, images) -> list[torch.Tensor]:
        """Symbols of every stage, [N, G_k, h, w] each."""
        return self.quantizer.quantize(self.analysis(images))[0]

    @torch.no_grad()
    def decode(self, symbols: list[torch.Tensor]) -> torch.Tensor:
        """Reconstruction from the first len(symbols) stages."""
        return self.synthesis(self.quantizer.lookup(symbols))


# ---------------------------------------------------------------------------------------------
# Prior (Sources/Engine/GatedPixelCNN.swift, MaskedConv2d.swift, Embedding.swift,
# Sources/Prior/PixelCNNPrior.swift)


def group_of(channel: int, channels: int, groups: int) -> int:
    """Channels g·C/G ..< (g+1)·C/G form group g."""
    return channel // (channels // groups)


def allows(mask: str, output_group: int, input_group: int) -> bool:
    """Mask "a" lets group g see groups < g at the same position; mask "b" groups ≤ g."""
    return input_group < output_group if mask == "a" else input_group <= output_group


def group_mask(outputs: int, inputs: int, groups: int, mask: str, output_modulo: int | None = None) -> torch.Tensor:
    """[outputs, inputs] 0/1: output o (its group from o mod output_modulo, when given) may read input i."""
    m = torch.zeros(outputs, inputs)
    span = output_modulo or outputs
    for o in range(outputs):
        og = group_of(o % span, span, groups)
        for i in range(inputs):
            m[o, i] = 1.0 if allows(mask, og, group_of(i, inputs, groups)) else 0.0
    return m


class GatedBlock(nn.Module):
    """One gated PixelCNN layer with a vertical and a horizontal stack and no blind spot.

    Output [N, 2C, H, W]: vertical stack in channels 0..<C, horizontal in C..<2C. The `.a` block
    takes the embedded symbols into both stacks. With h = k/2 and gate(p) = tanh(p[:C])·σ(p[C:]):
    vertical: a (h or h+1) × k convolution reading rows r−h … r−1 (.a) or r−h … r (.b);
    horizontal: 1 × (h+1) reading columns c−h … c, the centre tap group-masked (.a: < g, .b: ≤ g),
    plus a 1×1 link from the vertical pre-activation; output 1×1 with the .b mask; residual in .b.
    Parameters: vertical.{weight,bias}, horizontal.{weight,bias}, link.weight, output.{weight,bias}.
    """

    def __init__(self, input_channels, channels, kernel_size, mask, groups):
        super().__init__()
        assert mask in ("a", "b")
        if kernel_size % 2 != 1 or kernel_size < 3:
            raise ValueError(f"kernel size must be odd and ≥ 3, found {kernel_size}")
        if mask == "b" and input_channels != 2 * channels:
            raise ValueError("a .b block takes a block's output")
        self.mask, self.channels, self.groups = mask, channels, groups
        self.reach = h = kernel_size // 2
        self.rows = h if mask == "a" else h + 1
        stack_input = input_channels if mask == "a" else channels
        self.vertical = nn.Conv2d(stack_input, 2 * channels, (self.rows, kernel_size))
        self.horizontal = nn.Conv2d(stack_input, 2 * channels, (1, h + 1))
        self.link = nn.Conv2d(2 * channels, 2 * channels, 1, bias=False)
        self.output = nn.Conv2d(channels, channels, 1)
        horizontal_mask = torch.ones(2 * channels, stack_input, 1, h + 1)
        horizontal_mask[:, :, 0, h] = group_mask(2 * channels, stack_input, groups, mask, output_modulo=channels)
        self.register_buffer("horizontal_mask", horizontal_mask, persistent=False)
        self.register_buffer("output_mask", group_mask(channels, channels, groups, "b").reshape(channels, channels, 1, 1),
                             persistent=False)

    @staticmethod
    def gate(p):
        c = p.shape[1] // 2
        return torch.tanh(p[:, :c]) * torch.sigmoid(p[:, c:])

    def forward(self, x, condition=None):
        """`condition`: optional (vertical, horizontal) terms [N, 2C, H, W] added to the two
        pre-activations (the stage-conditional prior's context; None for the plain prior)."""
        c, h = self.channels, self.reach
        if self.mask == "a":
            vertical_in = horizontal_in = x
        else:
            vertical_in, horizontal_in = x[:, :c], x[:, c:]
        padded = F.pad(vertical_in, (h, h, h, 0))
        if self.rows == h:       # .a: bottom padding −1, a crop of the last row
            padded = padded[:, :, :-1]
        pv = F.conv2d(padded, self.vertical.weight, self.vertical.bias)
        if condition is not None:
            pv = pv + condition[0]
        vertical_out = self.gate(pv)
        ph = F.conv2d(F.pad(horizontal_in, (h, 0, 0, 0)), self.horizontal.weight * self.horizontal_mask,
                      self.horizontal.bias) + self.link(pv)
        if condition is not None:
            ph = ph + condition[1]
        horizontal_out = F.conv2d(self.gate(ph), self.output.weight * self.output_mask, self.output.bias)
        if self.mask == "b":
            horizontal_out = horizontal_in + horizontal_out
        return torch.cat([vertical_out, horizontal_out], 1)

    def masked_weights(self) -> dict[str, torch.Tensor]:
        """Weights with their masked-out entries set to 0 (what export writes)."""
        return {"horizontal.weight": self.horizontal.weight * self.horizontal_mask,
                "output.weight": self.output.weight * self.output_mask}


class MaskedConv1x1(nn.Conv2d):
    """A 1×1 convolution whose weights are group-masked with mask .b (MaskedConv2d, kernel 1)."""

    def __init__(self, inputs, outputs, groups):
        super().__init__(inputs, outputs, 1)
        self.register_buffer("mask", group_mask(outputs, inputs, groups, "b").reshape(outputs, inputs, 1, 1),
                             persistent=False)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias)


class GroupEmbedding(nn.Module):
    """Per-group symbol embedding: weight [G, K, E], N(0, 1); output [N, G·E, H, W] with group g in
    channels g·E ..< (g+1)·E."""

    def __init__(self, groups, symbols, dimension):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(groups, symbols, dimension))

    def forward(self, symbols):
        n, g, h, w = symbols.shape
        e = self.weight.shape[2]
        rows = torch.stack([self.weight[i][symbols[:, i]] for i in range(g)], 1)   # [N, G, H, W, E]
        return rows.permute(0, 1, 4, 2, 3).reshape(n, g * e, h, w)


class Head(nn.Module):
    def __init__(self, channels, head_channels, logits, groups):
        super().__init__()
        self.hidden = MaskedConv1x1(channels, head_channels, groups)
        self.logits = MaskedConv1x1(head_channels, logits, groups)


class PixelCNNPrior(nn.Module):
    """The float prior (PixelCNNPrior.swift): logits [N, G·K, h, w] for symbols [N, G, h, w];
    group g's logits at (r, c) depend on positions before (r, c) in raster order and on groups < g
    of (r, c). Zero padding outside the map. State-dict keys are the model file's `prior.*` keys."""

    def __init__(self, config: PriorConfig):
        super().__init__()
        problem = config.problem()
        if problem:
            raise ValueError(problem)
        self.config = config
        g, c = config.groups, config.channels
        self.embedding = GroupEmbedding(g, config.codebookSize, config.embeddingDimension)
        for b in range(config.blocks):
            setattr(self, f"block{b}", GatedBlock(g * config.embeddingDimension if b == 0 else 2 * c, c,
                                                  config.kernelSize, "a" if b == 0 else "b", g))
        self.head = Head(c, config.headChannels, g * config.codebookSize, g)

    def blocks(self):
        return [getattr(self, f"block{b}") for b in range(self.config.blocks)]

    def forward(self, symbols):
        return self.network(self.embedding(symbols))

    def network(self, x):
        """Everything after the embedding: embedded symbols [N, G·E, h, w] → logits [N, G·K, h, w]."""
        for block in self.blocks():
            x = block(x)
        x = F.relu(x[:, self.config.channels:])
        return self.head.logits(F.relu(self.head.hidden(x)))

    def cross_entropy(self, logits, symbols):
        """Mean cross-entropy per symbol in nats (SoftmaxCrossEntropy.swift)."""
        n, _, h, w = logits.shape
        g, k = self.config.groups, self.config.codebookSize
        return F.cross_entropy(logits.float().reshape(n, g, k, h, w).transpose(1, 2), symbols)

    def export_state(self, zero_masked: bool = True) -> dict[str, torch.Tensor]:
        """The parameters by model-file key (without `prior.`); masked-out weights zeroed unless told
        not to (the Swift side masks again when it loads, so either is read the same)."""
        state = {k: v.detach() for k, v in self.state_dict().items()}
        if zero_masked:
            for b, block in enumerate(self.blocks()):
                for key, value in block.masked_weights().items():
                    state[f"block{b}.{key}"] = value.detach()
            state["head.hidden.weight"] = (self.head.hidden.weight * self.head.hidden.mask).detach()
            state["head.logits.weight"] = (self.head.logits.weight * self.head.logits.mask).detach()
        return state


# ---------------------------------------------------------------------------------------------
# Stage-conditional prior (phase II of the progressive model)


@dataclass(frozen=True)
class StagePriorConfig:
    """One stage's prior: a `PriorConfig` over the stage's G_k groups of K_k codes, plus
    `conditionChannels`, the channels of the decoded latent of the earlier stages it reads
    (0 for stage 1, which has no earlier stage)."""

    groups: int = 1
    codebookSize: int = 512
    embeddingDimension: int = 16
    channels: int = 64
    blocks: int = 4
    kernelSize: int = 3
    headChannels: int = 128
    conditionChannels: int = 0

    def prior(self) -> PriorConfig:
        return PriorConfig(self.groups, self.codebookSize, self.embeddingDimension, self.channels, self.blocks,
                           self.kernelSize, self.headChannels)

    def problem(self) -> str | None:
        if not 0 <= self.conditionChannels <= 1024:
            return f"prior configuration: conditionChannels is {self.conditionChannels}, expected 0…1024"
        return self.prior().problem()


class StageConditionalPrior(PixelCNNPrior):
    """The prior of stage k: a gated PixelCNN over stage k's symbols [N, G_k, h, w] that also reads
    the decoded latent of stages 1…k−1, c = q₁ + … + q_{k−1} [N, D, h, w], at every position.

    The decoder knows c everywhere before it decodes stage k, so c enters through unmasked
    convolutions: in each gated block b, `condition{b}.vertical` (3×3, D → 2C) is added to the
    vertical pre-activation and `condition{b}.horizontal` (1×1, D → 2C) to the horizontal one.
    Only stage k's own symbols go through masked paths, so the logits of (r, c, g) depend on stage
    k's symbols before (r, c) in raster order, on groups < g at (r, c), and on any part of c. With
    conditionChannels = 0 (stage 1) it is exactly a `PixelCNNPrior`. Layer types are those of the
    plain prior (convolutions, gates, embeddings), so the integer freeze extends to it.
    """

    def __init__(self, config: StagePriorConfig):
        problem = config.problem()
        if problem:
            raise ValueError(problem)
        super().__init__(config.prior())
        self.stage_config = config
        d, c = config.conditionChannels, config.channels
        if d:
            for b in range(config.blocks):
                condition = nn.Module()
                condition.vertical = nn.Conv2d(d, 2 * c, 3, padding=1)
                condition.horizontal = nn.Conv2d(d, 2 * c, 1)
                setattr(self, f"condition{b}", condition)

    def forward(self, symbols, condition=None):
        return self.network(self.embedding(symbols), condition)

    def network(self, x, condition=None):
        if self.stage_config.conditionChannels and condition is None:
            raise ValueError("this stage's prior reads the decoded latent of the earlier stages; none was given")
        for b, block in enumerate(self.blocks()):
            if self.stage_config.conditionChannels:
                module = getattr(self, f"condition{b}")
                x = block(x, (module.vertical(condition), module.horizontal(condition)))
            else:
                x = block(x)
        x = F.relu(x[:, self.config.channels:])
        return self.head.logits(F.relu(self.head.hidden(x)))


class ProgressivePrior(nn.Module):
    """The S stage priors of a progressive model: `stage1` … `stageS`. Stage k's condition is the
    decoded latent of stages 1…k−1 (`ResidualQuantizer.lookup` of their symbols)."""

    def __init__(self, configs: list[StagePriorConfig]):
        super().__init__()
        self.configs = list(configs)
        for k, config in enumerate(self.configs):
            setattr(self, f"stage{k + 1}", StageConditionalPrior(config))

    def stages(self) -> list[StageConditionalPrior]:
        return [getattr(self, f"stage{k + 1}") for k in range(len(self.configs))]

    def cross_entropies(self, symbols: list[torch.Tensor], conditions: list[torch.Tensor | None]) -> list[torch.Tensor]:
        """Mean cross-entropy per symbol (nats) of each stage, given its symbols and condition."""
        return [prior.cross_entropy(prior(s, c), s) for prior, s, c in zip(self.stages(), symbols, conditions)]

    def json(self) -> str:
        return json.dumps([asdict(c) for c in self.configs], sort_keys=True, separators=(",", ":"))

    def export_state(self) -> dict[str, torch.Tensor]:
        """Parameters by model-file key without `prior.`: `stage{k}.…`, masked-out weights zeroed."""
        state = {}
        for k, prior in enumerate(self.stages()):
            for key, value in prior.export_state(zero_masked=True).items():
                state[f"stage{k + 1}.{key}"] = value
        return state


@torch.no_grad()
def warm_start_stage_priors(target: "ProgressivePrior", source: "ProgressivePrior") -> list[int]:
    """Loads `source`'s stage priors into `target`, whose stages must have the same configuration
    except perhaps the head's hidden width. A stage with a narrower head keeps, in each group, the
    hidden channels that carry the most (‖hidden row‖ · ‖logits column‖, masked weights), with
    their weights; the rest of the stage is copied whole. A warm start, not the same function.
    Returns the (1-based) stages whose head was narrowed."""
    if len(target.configs) != len(source.configs):
        raise ValueError(f"{len(source.configs)} stage priors, this run has {len(target.configs)}")
    narrowed = []
    for k, (t, s, tc, sc) in enumerate(zip(target.stages(), source.stages(), target.configs, source.configs)):
        if replace(tc, headChannels=sc.headChannels) != sc:
            raise ValueError(f"stage {k + 1}: its prior is {asdict(sc)}, this run's is {asdict(tc)} "
                             "(only the head's width may differ)")
        if tc.headChannels > sc.headChannels:
            raise ValueError(f"stage {k + 1}: cannot widen the head from {sc.headChannels} to {tc.headChannels}")
        state = s.state_dict()
        if tc.headChannels < sc.headChannels:
            g, old, new = sc.groups, sc.headChannels // sc.groups, tc.headChannels // tc.groups
            hidden = s.head.hidden.weight * s.head.hidden.mask            # [H, C, 1, 1]
            logits = s.head.logits.weight * s.head.logits.mask            # [L, H, 1, 1]
            weight = hidden.flatten(1).norm(dim=1) * logits.flatten(2).norm(dim=(0, 2))
            keep = torch.cat([group * old + weight[group * old:(group + 1) * old].argsort(descending=True)[:new].sort().values
                              for group in range(g)])
            state["head.hidden.weight"] = s.head.hidden.weight[keep].clone()
            state["head.hidden.bias"] = s.head.hidden.bias[keep].clone()
            state["head.logits.weight"] = s.head.logits.weight[:, keep].clone()
            narrowed.append(k + 1)
        t.load_state_dict(state)
    return narrowed


def perplexity(counts: torch.Tensor) -> list[float]:
    """Per group 2^H of the code distribution in `counts` [G, K] (CodebookUsage.swift)."""
    out = []
    for row in counts.double().cpu():
        total = row.sum().item()
        if total <= 0:
            out.append(0.0)
            continue
        p = row[row > 0] / total
        out.append(float(2 ** (-(p * torch.log2(p)).sum().item())))
    return out


def psnr(mse: float) -> float:
    return -10 * math.log10(mse) if mse > 0 else float("inf")
