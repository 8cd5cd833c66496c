"""vqcodec model files (Formats/model.md §5) from and to the PyTorch modules.

A file written here holds what the Swift readers `VQVAE(file:)` and `PixelCNNPrior(file:)` accept:
`analysis.*`, `synthesis.*` (F32 or F16), `quantizer.codebook` F32 [G, K, d], optionally `prior.*`
(F32 or F16), metadata `vqvae.config`, `name`, `prior.config`, and the recipes and metrics. It holds
no integer prior: `vqcodec freeze IN OUT` derives `prior_int.*` exactly as Swift training does.
"""
from __future__ import annotations

import json

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from atomic_output import replace_atomically
from packed_weights import PACKED, unpack_all

from .model import (PixelCNNPrior, PriorConfig, ProgressivePrior, ProgressiveVQVAE, RVQConfig, StagePriorConfig,
                    VQVAE, VQVAEConfig, group_mask, make_analysis, make_synthesis)

VQVAE_CONFIG = "vqvae.config"
PRIOR_CONFIG = "prior.config"
RVQ_CONFIG = "rvq.config"
RVQ_PRIOR_CONFIG = "rvq.prior.config"
RVQ_PRIOR_INT_CONFIG = "rvq.prior_int.config"
NAME = "name"
TRAINING_STATE = ("quantizer.cluster_size", "quantizer.cluster_sum", "quantizer.steps_unused")


def is_valid_name(name: str) -> bool:
    """1 to 64 printable ASCII characters (VQVAE.isValidName)."""
    data = name.encode("utf-8")
    return 1 <= len(data) <= 64 and all(0x20 <= b <= 0x7E for b in data)


def compact_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _float(t: torch.Tensor, half: bool) -> torch.Tensor:
    t = t.detach().to("cpu", torch.float32).contiguous()
    return t.to(torch.float16) if half else t


def vqvae_tensors(model: VQVAE, half: bool = False, training_state: bool = False) -> dict[str, torch.Tensor]:
    """`analysis.*`, `synthesis.*` (F16 with `half`), `quantizer.codebook` (always F32) and, with
    `training_state`, the EMA state a Swift checkpoint would hold."""
    tensors = {}
    for prefix, module in (("analysis.", model.analysis), ("synthesis.", model.synthesis)):
        for key, value in module.state_dict().items():
            tensors[prefix + key] = _float(value, half)
    q = model.quantizer
    tensors["quantizer.codebook"] = _float(q.codebook, False)
    if training_state:
        tensors["quantizer.cluster_size"] = _float(q.cluster_size, False)
        tensors["quantizer.cluster_sum"] = _float(q.cluster_sum, False)
        tensors["quantizer.steps_unused"] = q.steps_unused.detach().to("cpu", torch.int32).contiguous()
    return tensors


def rvq_tensors(model: ProgressiveVQVAE, half: bool = False) -> dict[str, torch.Tensor]:
    """`analysis.*`, `synthesis.*` (F16 with `half`) and `quantizer.stage{k}.codebook` F32
    [G_k, K_k, D / G_k] for k = 1 … S (README.md, "What the files hold")."""
    tensors = {}
    for prefix, module in (("analysis.", model.analysis), ("synthesis.", model.synthesis)):
        for key, value in module.state_dict().items():
            tensors[prefix + key] = _float(value, half)
    for k, q in enumerate(model.quantizer.stages()):
        tensors[f"quantizer.stage{k + 1}.codebook"] = _float(q.codebook, False)
    return tensors


def load_rvq(path: str) -> tuple[ProgressiveVQVAE, dict[str, torch.Tensor], dict[str, str]]:
    """The progressive model of a file written by `train.py rvq`, ready to encode and decode (its
    EMA state restarted as for a coding file: each code counts as seen once)."""
    tensors, metadata = read(path)
    if RVQ_CONFIG not in metadata:
        raise ValueError(f"{path}: the model file has no metadata \"{RVQ_CONFIG}\"; it holds no progressive model")
    value = json.loads(metadata[RVQ_CONFIG])
    model = ProgressiveVQVAE(RVQConfig(**value))
    unpacked = unpacked_transforms(tensors, value)       # the file's tensors are returned as stored
    for prefix, module in (("analysis.", model.analysis), ("synthesis.", model.synthesis)):
        state = {k[len(prefix):]: v.float() for k, v in unpacked.items() if k.startswith(prefix)}
        module.load_state_dict(state, strict=True)
    load_stage_codebooks(model, tensors, path)
    return model, tensors, metadata


@torch.no_grad()
def load_stage_codebooks(model: ProgressiveVQVAE, tensors: dict[str, torch.Tensor], path: str):
    """Copies `quantizer.stage{k}.codebook` into `model`'s stages, their EMA state restarted as for
    a coding file (each code counts as seen once, its sum the code itself)."""
    for k, q in enumerate(model.quantizer.stages()):
        key = f"quantizer.stage{k + 1}.codebook"
        if key not in tensors:
            raise ValueError(f"{path}: no tensor \"{key}\"; rvq.config has {len(model.config.stages)} stages")
        if list(tensors[key].shape) != list(q.codebook.shape):
            raise ValueError(f"{path}: {key} has shape {list(tensors[key].shape)}, expected {list(q.codebook.shape)}")
        q.codebook.copy_(tensors[key].float())
        q.cluster_size.fill_(1)
        q.cluster_sum.copy_(q.codebook)
        q.initialised.fill_(True)


def rvq_prior_tensors(prior: ProgressivePrior, half: bool = False) -> dict[str, torch.Tensor]:
    """`prior.stage{k}.*` for k = 1 … S (masked-out weights stored as 0)."""
    return {"prior." + key: _float(value, half) for key, value in prior.export_state().items()}


def load_rvq_prior(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> ProgressivePrior:
    if RVQ_PRIOR_CONFIG not in metadata:
        raise ValueError(f"the model file has no metadata \"{RVQ_PRIOR_CONFIG}\"; it holds no stage-conditional prior")
    prior = ProgressivePrior([StagePriorConfig(**c) for c in json.loads(metadata[RVQ_PRIOR_CONFIG])])
    state = {k[len("prior."):]: v.float() for k, v in tensors.items() if k.startswith("prior.")}
    prior.load_state_dict(state, strict=True)
    return prior


# Thawing: float stage priors from the integer ones (`Formats/prior.md` §2–§4, §6). A file compacted
# for decoding (`Tools/compact_model.py --decode-only`) keeps only the integer stage priors; these
# give back a float network that computes the same logits, up to the integers' rounding, so that its
# priors can be trained on (`train.py rvq-prior --init-from`).
ACTIVATION_LIMIT = 8192          # A: every integer activation lies in −A…A
INDEX_UNITS = 256                # table index steps per unit of pre-activation (2^8)
LOGIT_UNITS = 32                 # integer logits per nat
# The integer file does not record the absolute scale of three kinds of channel: an embedding
# dimension (only its largest entry, rounded to A), a channel of the horizontal stacks' residual
# stream and a hidden channel of the head (each feeds only linear maps and ReLUs, so a factor on it
# and its inverse on what reads it give the same function). Thawing sets them to the magnitudes
# trained float priors have: mean |embedding entry| 0.8 (as N(0, 1) draws), mean |weight| 0.11 of
# the output convolutions that write the stream and 0.1 of the head's hidden layer.
THAWED_EMBEDDING_MEAN = 0.8
THAWED_OUTPUT_WEIGHT_MEAN = 0.11
THAWED_HIDDEN_WEIGHT_MEAN = 0.1


def _ratios(pairs: torch.Tensor) -> torch.Tensor:
    """A [n, 2] tensor of rescale pairs (M, R) → the ratios M / 2^R (float64)."""
    pairs = pairs.long()
    return pairs[:, 0].double() / torch.pow(2.0, pairs[:, 1].double())


def _scale_for_mean(values: torch.Tensor, mask: torch.Tensor, target: float) -> torch.Tensor:
    """Per row of `values` [n, m] (float64, already times their other factors), the factor that makes
    the mean |value| over the row's `mask`ed entries `target` (1 where a row is all zero)."""
    total = (values.abs() * mask).sum(1)
    count = mask.sum(1).clamp(min=1)
    mean = total / count
    return torch.where(mean > 0, target / mean.clamp(min=1e-300), torch.ones_like(mean))


def thaw_stage_prior(tensors: dict[str, torch.Tensor], prefix: str, config: StagePriorConfig,
                     condition_scale: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """One stage's float prior (a `StageConditionalPrior` state dict) from its integer tensors
    `prefix` + §2's names (and the condition weights of §6); `condition_scale` [D]: the float value
    of one unit of the integer condition."""
    a = float(ACTIVATION_LIMIT)
    g, k, e, c = config.groups, config.codebookSize, config.embeddingDimension, config.channels
    blocks, kernel, head = config.blocks, config.kernelSize, config.headChannels
    reach = kernel // 2

    def t(name: str) -> torch.Tensor:
        key = prefix + name
        if key not in tensors:
            raise ValueError(f"no tensor \"{key}\"")
        return tensors[key].double()

    state = {}
    embedding = t("embedding")                                              # [G, K, E]
    embedding_scale = _scale_for_mean(embedding.permute(0, 2, 1).reshape(g * e, k), torch.ones(g * e, k),
                                      THAWED_EMBEDDING_MEAN)                 # [G·E]: float per unit
    state["embedding.weight"] = embedding * embedding_scale.view(g, 1, e)

    # The residual stream's scale: block b's output writes O_int · ratio_b · σ · A in float.
    output_ratios = [_ratios(t(f"block{b}.output.rescale")) for b in range(blocks)]
    output_mask = group_mask(c, c, g, "b").double()
    written = torch.cat([t(f"block{b}.output.weight") * output_ratios[b].view(c, 1) * a for b in range(blocks)], 1)
    stream_scale = _scale_for_mean(written, output_mask.repeat(1, blocks), THAWED_OUTPUT_WEIGHT_MEAN)   # σ_h [C]

    for b in range(blocks):
        q = f"block{b}."
        inputs = g * e if b == 0 else c
        rows = reach if b == 0 else reach + 1
        vertical_in = embedding_scale if b == 0 else torch.full((c,), 1 / a, dtype=torch.float64)
        horizontal_in = embedding_scale if b == 0 else stream_scale
        vertical_unit = _ratios(t(q + "vertical.index_rescale")) / INDEX_UNITS                  # [2C]
        value_scale = vertical_unit / _ratios(t(q + "vertical.value_rescale"))                  # σ_p [2C]
        vertical = t(q + "vertical.weight")                                                    # [2C, rows, k, I]
        if list(vertical.shape) != [2 * c, rows, kernel, inputs]:
            raise ValueError(f"{prefix}{q}vertical.weight has shape {list(vertical.shape)}")
        state[q + "vertical.weight"] = (vertical * vertical_unit.view(-1, 1, 1, 1)
                                        / vertical_in.view(1, 1, 1, -1)).permute(0, 3, 1, 2)
        state[q + "vertical.bias"] = t(q + "vertical.bias") * vertical_unit
        horizontal_unit = _ratios(t(q + "horizontal.index_rescale")) / INDEX_UNITS              # [2C]
        horizontal = t(q + "horizontal.weight")                                                # [2C, reach+1, I]
        state[q + "horizontal.weight"] = (horizontal * horizontal_unit.view(-1, 1, 1)
                                          / horizontal_in.view(1, 1, -1)).permute(0, 2, 1).unsqueeze(2)
        state[q + "horizontal.bias"] = t(q + "horizontal.bias") * horizontal_unit
        state[q + "link.weight"] = (t(q + "link.weight") * horizontal_unit.view(-1, 1)
                                    / value_scale.view(1, -1)).view(2 * c, 2 * c, 1, 1)
        output_unit = output_ratios[b] * stream_scale                                           # [C]
        state[q + "output.weight"] = (t(q + "output.weight") * output_unit.view(-1, 1) * a).view(c, c, 1, 1)
        state[q + "output.bias"] = t(q + "output.bias") * output_unit
        if config.conditionChannels:
            d = config.conditionChannels
            cv = t(q + "condition.vertical.weight")                                            # [2C, 3, 3, D]
            state[f"condition{b}.vertical.weight"] = (cv * vertical_unit.view(-1, 1, 1, 1)
                                                      / condition_scale.view(1, 1, 1, -1)).permute(0, 3, 1, 2)
            state[f"condition{b}.vertical.bias"] = torch.zeros(2 * c, dtype=torch.float64)
            ch = t(q + "condition.horizontal.weight")                                          # [2C, D]
            state[f"condition{b}.horizontal.weight"] = (ch * horizontal_unit.view(-1, 1)
                                                        / condition_scale.view(1, -1)).view(2 * c, d, 1, 1)
            state[f"condition{b}.horizontal.bias"] = torch.zeros(2 * c, dtype=torch.float64)

    hidden_ratio = _ratios(t("head.hidden.rescale"))                                          # U_z / σ_z
    hidden = t("head.hidden.weight") / stream_scale.view(1, -1)                                 # × U_z to be float
    hidden_scale = _scale_for_mean(hidden * hidden_ratio.view(-1, 1), group_mask(head, c, g, "b").double(),
                                   THAWED_HIDDEN_WEIGHT_MEAN)                                  # σ_z [H]
    hidden_unit = hidden_ratio * hidden_scale
    state["head.hidden.weight"] = (hidden * hidden_unit.view(-1, 1)).view(head, c, 1, 1)
    state["head.hidden.bias"] = t("head.hidden.bias") * hidden_unit
    logit_unit = _ratios(t("head.logits.rescale")) / LOGIT_UNITS
    state["head.logits.weight"] = (t("head.logits.weight") * logit_unit.view(-1, 1)
                                   / hidden_scale.view(1, -1)).view(g * k, head, 1, 1)
    state["head.logits.bias"] = t("head.logits.bias") * logit_unit
    return {key: value.float() for key, value in state.items()}


def thaw_rvq_prior(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> ProgressivePrior:
    """Float stage priors computing what a progressive model file's integer stage priors compute
    (`rvq.prior_int.config`; the file's float codebooks `quantizer.stage<k>.codebook` give the
    condition's scale), for training on from a file that keeps only the integer priors."""
    if RVQ_PRIOR_INT_CONFIG not in metadata:
        raise ValueError(f"the model file has no metadata \"{RVQ_PRIOR_INT_CONFIG}\"; it holds no integer stage priors")
    header = json.loads(metadata[RVQ_PRIOR_INT_CONFIG])
    stages = header.get("stages") or []
    fields = ("groups", "codebookSize", "embeddingDimension", "channels", "blocks", "kernelSize", "headChannels",
              "conditionChannels")
    configs = [StagePriorConfig(**{f: int(s[f]) for f in fields}) for s in stages]
    latent = int(header["latentChannels"])
    conditioned = [k for k, config in enumerate(configs) if config.conditionChannels]
    condition_scale = None
    if conditioned:
        # Formats/prior.md §6: σ[d] = B[d] / (A − J), B[d] = Σ_{j ≤ J} max_s |codebook_j[g, s, i]|.
        reach = max(conditioned)                                       # J
        bound = torch.zeros(latent, dtype=torch.float64)
        for j in range(1, reach + 1):
            key = f"quantizer.stage{j}.codebook"
            if key not in tensors:
                raise ValueError(f"no tensor \"{key}\" (the integer condition's scale comes from the codebooks)")
            codebook = tensors[key].double()                            # [G_j, K_j, D / G_j]
            bound += codebook.abs().amax(1).reshape(latent)
        condition_scale = torch.where(bound > 0, bound / (ACTIVATION_LIMIT - reach),
                                      torch.full_like(bound, 1 / ACTIVATION_LIMIT))
    prior = ProgressivePrior(configs)
    for k, config in enumerate(configs):
        state = thaw_stage_prior(tensors, f"prior_int.stage{k + 1}.", config,
                                 condition_scale if config.conditionChannels else None)
        getattr(prior, f"stage{k + 1}").load_state_dict(state, strict=True)
    return prior


def prior_tensors(prior: PixelCNNPrior, half: bool = False, zero_masked: bool = True) -> dict[str, torch.Tensor]:
    return {"prior." + key: _float(value, half) for key, value in prior.export_state(zero_masked).items()}


def write_atomically(tensors: dict[str, torch.Tensor], metadata: dict[str, str], path: str,
                     protect: tuple[str, ...] = ()) -> None:
    """Writes a safetensors file through a temporary file in the same folder and a rename, so an
    interrupted run never leaves a partial model; refuses to replace any file in `protect`."""
    replace_atomically(path, lambda temporary: save_file(tensors, temporary, metadata=metadata), protect)


def read(path: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors = {}
    with safe_open(path, framework="pt") as f:
        metadata = dict(f.metadata() or {})
        for key in f.keys():
            tensors[key] = f.get_tensor(key)
    return tensors, metadata


def unpacked_transforms(tensors: dict[str, torch.Tensor], shape: dict) -> dict[str, torch.Tensor]:
    """`tensors` with the transforms' packed weights (`X.scale` + `X.packed<b>`, Formats/model.md
    §1.1, written by `Tools/compact_model.py --pack-transforms`) unpacked to float32, their shapes
    those of transforms of `shape` ({stride, width, latentChannels})."""
    if not any(PACKED.match(k) for k in tensors):
        return tensors
    shapes = {}
    for prefix, module in (("analysis.", make_analysis(shape["stride"], shape["width"], shape["latentChannels"])),
                           ("synthesis.", make_synthesis(shape["stride"], shape["width"], shape["latentChannels"]))):
        shapes.update({prefix + k: tuple(v.shape) for k, v in module.state_dict().items()})
    arrays = {k: v.numpy() for k, v in tensors.items()}
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in unpack_all(arrays, shapes).items()}


def load_vqvae(path: str) -> tuple[VQVAE, dict[str, torch.Tensor], dict[str, str]]:
    """The VQ-VAE of a model file (any vqcodec model: Swift- or PyTorch-trained), with the file's
    tensors and metadata."""
    tensors, metadata = read(path)
    if VQVAE_CONFIG not in metadata:
        raise ValueError(f"{path}: the model file has no metadata \"{VQVAE_CONFIG}\"; it holds no VQ-VAE")
    config = VQVAEConfig(**json.loads(metadata[VQVAE_CONFIG]))
    model = VQVAE(config)
    for prefix, module in (("analysis.", model.analysis), ("synthesis.", model.synthesis)):
        state = {k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)}
        module.load_state_dict(state, strict=True)
    q = model.quantizer
    q.codebook.copy_(tensors["quantizer.codebook"].float())
    if "quantizer.cluster_size" in tensors:
        q.cluster_size.copy_(tensors["quantizer.cluster_size"].float())
        q.cluster_sum.copy_(tensors["quantizer.cluster_sum"].float())
        if "quantizer.steps_unused" in tensors:
            q.steps_unused.copy_(tensors["quantizer.steps_unused"].to(torch.int32))
    else:  # a coding file: each code counts as seen once at its own position (EMAQuantizer.restore)
        q.cluster_size.fill_(1)
        q.cluster_sum.copy_(q.codebook)
    q.initialised.fill_(True)
    return model, tensors, metadata


def load_prior(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> PixelCNNPrior:
    if PRIOR_CONFIG not in metadata:
        raise ValueError(f"the model file has no metadata \"{PRIOR_CONFIG}\"; it holds no float prior")
    prior = PixelCNNPrior(PriorConfig(**json.loads(metadata[PRIOR_CONFIG])))
    state = {k[len("prior."):]: v.float() for k, v in tensors.items() if k.startswith("prior.")}
    prior.load_state_dict(state, strict=True)
    return prior


def without_prior(tensors: dict[str, torch.Tensor], metadata: dict[str, str]):
    """A model file's contents without any float or integer prior (PriorTrainer.withoutPrior)."""
    def is_prior(key: str) -> bool:
        return key.startswith("prior.") or key.startswith("prior_int.")
    return ({k: v for k, v in tensors.items() if not is_prior(k)},
            {k: v for k, v in metadata.items() if not is_prior(k)})
