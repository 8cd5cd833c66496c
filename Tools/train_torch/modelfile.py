"""vqcodec model files (Formats/model.md §5) from and to the PyTorch modules.

A file written here holds what the Swift readers `VQVAE(file:)` and `PixelCNNPrior(file:)` accept:
`analysis.*`, `synthesis.*` (F32 or F16), `quantizer.codebook` F32 [G, K, d], optionally `prior.*`
(F32 or F16), metadata `vqvae.config`, `name`, `prior.config`, and the recipes and metrics. It holds
no integer prior: `vqcodec freeze IN OUT` derives `prior_int.*` exactly as Swift training does.
"""
from __future__ import annotations

import json

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from atomic_output import replace_atomically

from .model import (PixelCNNPrior, PriorConfig, ProgressivePrior, ProgressiveVQVAE, RVQConfig, StagePriorConfig,
                    VQVAE, VQVAEConfig)

VQVAE_CONFIG = "vqvae.config"
PRIOR_CONFIG = "prior.config"
RVQ_CONFIG = "rvq.config"
RVQ_PRIOR_CONFIG = "rvq.prior.config"
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
    for prefix, module in (("analysis.", model.analysis), ("synthesis.", model.synthesis)):
        state = {k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)}
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
