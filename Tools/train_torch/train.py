#!/usr/bin/env python3
"""Train vqcodec models with PyTorch (one GPU, several with torchrun/DDP, or the CPU).

    python3 Tools/train_torch/train.py vqvae --data DIR --out M.safetensors [options]
    python3 Tools/train_torch/train.py prior --model M.safetensors --data DIR --out M2.safetensors [options]
    torchrun --nproc_per_node=8 Tools/train_torch/train.py vqvae ...      (DDP, --batch is global)
    vqcodec freeze M2.safetensors CODEC.safetensors                        (integer prior → codec model)

Phase I trains the VQ-VAE (‖s − ŝ‖² + 0.25‖L − sg(L̂)‖², EMA codebooks, dead-code restarts);
phase II the gated PixelCNN prior on the symbol maps of a trained VQ-VAE. Both use Adam with a
linear warm-up and half a cosine down to a tenth of --lr, the gradient norm clipped to 1, and skip
an update whose loss or gradient is not finite (ten in a row stop the run), like `vqcodec train`.
Every --checkpoint-every steps, on Ctrl-C/SIGTERM and at the end they write the model file (atomically)
and a checkpoint (OUT.ckpt.pt, OUT.prior.ckpt.pt) from which --resume continues. See README.md.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import inspect
import math
import json
import os
import signal
import sys
import time
from datetime import datetime, timezone

import numpy as np
import torch
import torch.distributed as dist

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from train_torch import data as datasets  # noqa: E402
from train_torch import modelfile  # noqa: E402
from train_torch.model import (PixelCNNPrior, PriorConfig, ProgressivePrior, ProgressiveVQVAE, RVQConfig,  # noqa: E402
                               StagePriorConfig, VQVAE, VQVAEConfig, perplexity, psnr, stage_counts,
                               warm_start_stage_priors, widen_transforms)

# ---------------------------------------------------------------------------------------------
# Shared machinery


class Usage(Exception):
    """A problem with the command line or its files: printed as one line, exit status 64."""


def learning_rate(step: int, peak: float, warmup: int, total: int) -> float:
    """LearningRateSchedule.swift: step s < warm-up gets peak·(s+1)/warm-up, then half a cosine from
    peak to peak/10 at `total`."""
    floor = peak / 10
    if step < warmup:
        return peak * (step + 1) / warmup
    span, since = total - warmup, step - warmup
    if since >= span:
        return floor
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * since / span))


def stream_seed(seed: int, step: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, step, stream]).generate_state(1, np.uint64)[0]) & ((1 << 63) - 1)


class Distributed:
    """The process group when started by torchrun (WORLD_SIZE > 1), else a single process."""

    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank, self.local = 0, 0
        want_cuda = device != "cpu" and torch.cuda.is_available()
        if device == "cuda" and not torch.cuda.is_available():
            raise Usage("--device cuda: no CUDA device is available")
        if self.world > 1:
            dist.init_process_group("nccl" if want_cuda else "gloo")
            self.rank, self.local = dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0"))
        if want_cuda:
            torch.cuda.set_device(self.local)
            self.device = torch.device("cuda", self.local)
            torch.backends.cudnn.benchmark = True     # fixed crop sizes: let cuDNN pick its fastest kernels
        else:
            self.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def description(self) -> str:
        if self.device.type == "cuda":
            return f"{self.world} × {torch.cuda.get_device_name(self.device)}"
        return f"{self.world} × CPU ({torch.get_num_threads()} threads)"

    def sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        return self.sum([1.0 if flag else 0.0])[0] > 0

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def close(self):
        if self.world > 1:
            dist.destroy_process_group()


STOP = {"requested": 0}


def install_stop_handlers():
    STOP["requested"] = 0

    def handler(signum, frame):
        STOP["requested"] += 1
        if STOP["requested"] > 1:
            os._exit(128 + signum)
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def save_checkpoint(path: str, state: dict):
    temporary = path + ".partial"
    torch.save(state, temporary)
    os.replace(temporary, path)


def check_output(out: str, data):
    if os.path.isdir(out):
        raise Usage(f"--out {out} is a folder; give the path of the model file to write")
    folder = os.path.realpath(os.path.dirname(os.path.abspath(out)))
    for source in (data if isinstance(data, list) else [data]):
        if not os.path.isdir(source):
            continue
        data_folder = os.path.realpath(source)
        if folder == data_folder or folder.startswith(data_folder + os.sep):
            raise Usage(f"--out {out} lies inside the data folder {source}; write models elsewhere")
    if not os.path.isdir(folder):
        raise Usage(f"the folder of --out ({folder}) does not exist; create it first")


PATH_KEYS = {"init_from", "rate_prior"}


def resumed_run(args, checkpoint: dict, keys: list[str]) -> dict:
    """With --resume the checkpoint's settings apply; an option given with another value is an error
    (--steps may extend the run)."""
    run = dict(checkpoint["run"])
    for key in keys:
        given = getattr(args, key, None)
        if key in PATH_KEYS and given is not None:
            given = os.path.realpath(given)                 # the run keeps the path it resolved
        if given is not None and given != run.get(key):
            if key == "steps":
                run["steps"] = given
                continue
            raise Usage(f"--{key.replace('_', '-')} {given} differs from the checkpoint's {run.get(key)}; "
                        "a resumed run keeps its settings")
    # The recipe keeps the command that started the run and each one that resumed it (one may
    # have extended --steps).
    run["resumed_with"] = list(run.get("resumed_with", [])) + [" ".join(sys.argv)]
    return run


class Progress:
    """Progress lines on standard output and CSV rows in OUT.log.csv (rank 0 only)."""

    def __init__(self, csv_path: str | None, total: int, first: int, elapsed: float):
        self.total, self.first, self.start, self.elapsed_before = total, first, time.time(), elapsed
        # A resumed run appends to its log under the header it has: columns a newer trainer adds
        # are left out of that file rather than shifting the others.
        self.header: list[str] | None = None
        if csv_path and os.path.exists(csv_path) and os.path.getsize(csv_path) > 0:
            with open(csv_path, newline="") as existing:
                self.header = next(csv.reader(existing), None)
        self.file = open(csv_path, "a", newline="") if csv_path else None
        self.writer = csv.writer(self.file) if self.file else None

    @property
    def session_seconds(self) -> float:
        return time.time() - self.start

    def report(self, step: int, text: str, row: dict):
        rate = (step - self.first) / max(self.session_seconds, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        print(f"step {step}/{self.total}  {text}  {rate:.2f} steps/s  eta {eta / 60:.1f} min", flush=True)
        if self.writer:
            row = {"step": step, "seconds": round(self.elapsed_before + self.session_seconds, 1), **row}
            if self.header is None:
                self.header = list(row.keys())
                self.writer.writerow(self.header)
            self.writer.writerow([row.get(key, "") for key in self.header])
            self.file.flush()

    def close(self):
        if self.file:
            self.file.close()


def optimizer_step(parameters, optimizer, loss, clip_norm, lr) -> tuple[float, bool]:
    """Clips the global gradient norm, steps when everything is finite; returns (norm, updated)."""
    norm = torch.nn.utils.clip_grad_norm_(parameters, clip_norm)
    finite = bool(torch.isfinite(norm).item()) and bool(torch.isfinite(loss.detach()).item())
    if finite:
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
    return float(norm.item()), finite


def bf16_support(device: torch.device) -> tuple[bool, str]:
    """Whether bfloat16 autocast can pay off here, and why: on CUDA when the GPU supports bf16; on
    the CPU only with native bf16 instructions (`avx512_bf16` or `amx_bf16` in /proc/cpuinfo)
    — elsewhere PyTorch emulates bf16 and runs slower than float32."""
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return True, f"bf16 autocast on {torch.cuda.get_device_name(device)}"
        return False, "bf16 autocast requested, but this GPU lacks bf16: training in float32"
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags.update(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    found = sorted(flags & {"avx512_bf16", "amx_bf16"})
    if found:
        return True, f"bf16 autocast on the CPU ({', '.join(found)})"
    return False, "bf16 autocast requested, but this CPU has no avx512_bf16/amx_bf16 (bf16 would be emulated): training in float32"


def autocast(dist_: Distributed, amp: bool):
    """bfloat16 autocast when asked for and the device supports it natively (`bf16_support`)."""
    enabled = bool(amp) and bf16_support(dist_.device)[0]
    return torch.autocast(device_type=dist_.device.type, dtype=torch.bfloat16, enabled=enabled)


REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def recorded_path(path: str) -> str:
    """A path as a model file records it: relative to the repository (`../shared/data/train`,
    `runs/m.safetensors`), so that no machine's absolute paths travel with a shipped model."""
    return os.path.relpath(os.path.realpath(path), REPOSITORY) if os.path.isabs(path) else path


def recorded_command_line(command_line: str) -> str:
    """The command line with every absolute path that names an existing file or folder recorded
    as `recorded_path` does."""
    return " ".join(recorded_path(word) if os.path.isabs(word) and os.path.exists(word) else word
                    for word in command_line.split(" "))


def recipe_common(args_run: dict, dist_: Distributed, step: int, wall: float) -> dict:
    return {
        "trainer": f"Tools/train_torch (PyTorch {torch.__version__})",
        "commandLine": recorded_command_line(args_run["command_line"]),
        "dataFolder": [recorded_path(d) for d in args_run["data"]],
        "seed": args_run["seed"],
        "steps": step,
        "plannedSteps": args_run["steps"],
        "batch": args_run["batch"],
        "crop": args_run["crop"],
        "learningRate": args_run["lr"],
        "warmupSteps": args_run["warmup"],
        "clipNorm": args_run["clip_norm"],
        "amp": "bf16" if args_run["amp"] and bf16_support(dist_.device)[0] else "none",
        "devices": dist_.description(),
        "wallSeconds": round(wall, 1),
        "deviceSeconds": round(wall * dist_.world, 1),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **({"resumedWith": [recorded_command_line(c) for c in args_run["resumed_with"]]}
           if args_run.get("resumed_with") else {}),
    }


def make_optimizer(parameters, lr):
    return torch.optim.Adam(parameters, lr=lr, betas=(0.9, 0.999), eps=1e-8)


# ---------------------------------------------------------------------------------------------
# Phase I


VQVAE_KEYS = ["stride", "width", "latent_channels", "groups", "codebook_size", "steps", "batch", "crop", "lr",
              "warmup", "seed", "name", "amp"]


def train_vqvae(args, dist_: Distributed) -> int:
    checkpoint_path = args.out + ".ckpt.pt"
    if args.resume:
        if not os.path.exists(checkpoint_path):
            raise Usage(f"--resume: no checkpoint {checkpoint_path}")
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        if checkpoint.get("phase") != "vqvae":
            raise Usage(f"{checkpoint_path} is not a phase-I checkpoint")
        run = resumed_run(args, checkpoint, VQVAE_KEYS)
        if os.path.realpath(args.data) != run["data"]:
            raise Usage(f"--data {args.data} differs from the checkpoint's {run['data']}; a resumed run keeps its data")
    else:
        if os.path.exists(checkpoint_path):
            raise Usage(f"{checkpoint_path} holds a checkpoint of an earlier run; pass --resume to continue it, "
                        "or delete it to start afresh")
        checkpoint = None
        steps = args.steps or 10_000
        run = {
            "stride": args.stride or 8, "width": args.width or 128, "latent_channels": args.latent_channels or 64,
            "groups": args.groups or 4, "codebook_size": args.codebook_size or 512, "steps": steps,
            "batch": args.batch or 8, "crop": args.crop or 128, "lr": args.lr or 2e-4,
            "warmup": args.warmup if args.warmup is not None else min(500, steps // 10),
            "clip_norm": 1.0, "seed": args.seed if args.seed is not None else 1, "name": args.name or "vqvae",
            "amp": bool(args.amp), "data": os.path.realpath(args.data),
            "command_line": " ".join(sys.argv),
        }
    config = VQVAEConfig(run["stride"], run["width"], run["latent_channels"], run["groups"], run["codebook_size"])
    problem = config.problem()
    if problem:
        raise Usage(problem)
    if run["crop"] < config.stride or run["crop"] % config.stride:
        raise Usage(f"crop must be a multiple of the stride {config.stride}, found {run['crop']}")
    if not modelfile.is_valid_name(run["name"]):
        raise Usage(f"name must be 1 to 64 printable ASCII characters, found \"{run['name']}\"")
    if not 0 <= run["warmup"] <= run["steps"]:
        raise Usage(f"warm-up must be 0 to {run['steps']} steps, found {run['warmup']}")
    if run["batch"] % dist_.world:
        raise Usage(f"--batch {run['batch']} must be a multiple of the {dist_.world} processes")
    local_batch = run["batch"] // dist_.world

    paths = datasets.list_images(run["data"])
    torch.manual_seed(run["seed"])
    model = VQVAE(config).to(dist_.device)
    parameters = list(model.analysis.parameters()) + list(model.synthesis.parameters())
    optimizer = make_optimizer(parameters, run["lr"])
    step, elapsed_before = 0, 0.0
    if checkpoint:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        step, elapsed_before = checkpoint["step"], checkpoint["elapsed"]
    net = model
    if dist_.world > 1:
        # The quantizer keeps its buffers identical on every process itself (summed statistics,
        # rank-0 restarts broadcast), so DDP must not overwrite them with rank 0's at each forward.
        no_buffer_sync = ({"forward_sync_buffers": False}
                          if "forward_sync_buffers" in inspect.signature(torch.nn.parallel.DistributedDataParallel).parameters
                          else {"broadcast_buffers": False})
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dist_.local] if dist_.device.type == "cuda" else None, **no_buffer_sync)

    if dist_.main:
        count = sum(p.numel() for p in parameters)
        print(f"{len(paths)} images in {run['data']}; VQ-VAE stride {config.stride}, width {config.width}, "
              f"latent {config.latentChannels} = {config.groups} × {config.dimension}, {config.groups} × "
              f"{config.codebookSize} codes, {count} parameters; batch {run['batch']} × {run['crop']}², "
              f"lr {run['lr']} (warm-up {run['warmup']}), seed {run['seed']}, {dist_.description()}"
              + (f"; {bf16_support(dist_.device)[1]}" if run["amp"] else "")
              + (f"; resuming at step {step}" if step else ""), flush=True)

    loader = torch.utils.data.DataLoader(
        datasets.ImageCropBatches(paths, run["crop"], local_batch, run["seed"], dist_.rank, args.cache_mb),
        batch_size=None, sampler=range(step, run["steps"]), num_workers=args.workers,
        pin_memory=dist_.device.type == "cuda", persistent_workers=False,
        prefetch_factor=4 if args.workers > 0 else None)
    progress = Progress(args.out + ".log.csv" if dist_.main else None, run["steps"], step, elapsed_before)
    window = {"steps": 0, "mse": 0.0, "commit": 0.0, "norm": 0.0, "skipped": 0,
              "counts": torch.zeros(config.groups, config.codebookSize, dtype=torch.float64)}
    last_metrics: dict | None = checkpoint.get("metrics") if checkpoint else None
    non_finite, lr = 0, run["lr"]

    def save():
        nonlocal last_metrics
        wall = elapsed_before + progress.session_seconds
        if dist_.main:
            save_checkpoint(checkpoint_path, {"phase": "vqvae", "run": run, "step": step, "elapsed": wall,
                                              "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                              "metrics": last_metrics})
            metadata = {modelfile.VQVAE_CONFIG: config.json(), modelfile.NAME: run["name"],
                        "vqvae.recipe": modelfile.compact_json(recipe_common(run, dist_, step, wall))}
            if last_metrics:
                metadata["vqvae.metrics"] = modelfile.compact_json(last_metrics)
            modelfile.write_atomically(modelfile.vqvae_tensors(model, half=args.half), metadata, args.out,
                                       protect=tuple(paths))
        dist_.barrier()

    install_stop_handlers()
    model.train()
    for images in loader:
        if dist_.any(STOP["requested"] > 0):
            save()
            if dist_.main:
                print(f"interrupted: checkpoint of step {step} saved in {checkpoint_path}; "
                      "run the same command with --resume to continue", flush=True)
            progress.close()
            return 130
        images = images.to(dist_.device, non_blocking=True).float().div_(255)
        generator = torch.Generator(device=dist_.device)
        generator.manual_seed(stream_seed(run["seed"], step, 2))
        with autocast(dist_, run["amp"]):
            _, mse, commitment, _, counts = net(images, generator)
            loss = mse + commitment
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        lr = learning_rate(step, run["lr"], run["warmup"], run["steps"])
        norm, updated = optimizer_step(parameters, optimizer, loss, run["clip_norm"], lr)
        non_finite = 0 if updated else non_finite + 1
        if non_finite >= 10:
            raise RuntimeError(f"training diverged at step {step}: ten updates in a row had a non-finite loss or "
                               "gradient; resume from the last checkpoint with a lower --lr")
        step += 1
        window["steps"] += 1
        if updated:
            window["mse"] += mse.item()
            window["commit"] += commitment.item()
            window["norm"] += norm
        else:
            window["skipped"] += 1
        window["counts"] += counts.double().cpu()
        if step % args.log_every == 0 or step == run["steps"]:
            mse_sum, commit_sum = dist_.sum([window["mse"], window["commit"]])
            updated_steps = max(1, window["steps"] - window["skipped"])
            mean_mse, mean_commit = mse_sum / dist_.world / updated_steps, commit_sum / dist_.world / updated_steps
            used = [int((row > 0).sum()) for row in window["counts"]]
            ppl = perplexity(window["counts"])
            last_metrics = {"mse": mean_mse, "psnr": psnr(mean_mse), "commitment": mean_commit,
                            "codesUsed": used, "perplexity": ppl}
            if dist_.main:
                text = (f"loss {mean_mse + mean_commit:.5f}  mse {mean_mse:.5f}  psnr {psnr(mean_mse):.2f} dB  "
                        f"commit {mean_commit:.5f}  "
                        f"|g| {window['norm'] / updated_steps:.3f}  lr {lr:.2e}  codes "
                        + " ".join(f"{u}/{config.codebookSize}" for u in used)
                        + ", ppl " + " ".join(str(round(p)) for p in ppl)
                        + (f"  skipped {window['skipped']} non-finite" if window["skipped"] else ""))
                progress.report(step, text, {"loss": f"{mean_mse + mean_commit:.6g}", "mse": f"{mean_mse:.6g}", "psnr_db": f"{psnr(mean_mse):.4f}",
                                             "commitment": f"{mean_commit:.6g}",
                                             "grad_norm": f"{window['norm'] / updated_steps:.4g}", "lr": f"{lr:.4e}",
                                             "codes": " ".join(map(str, used)),
                                             "perplexity": " ".join(f"{p:.1f}" for p in ppl),
                                             "skipped": window["skipped"]})
            window.update(steps=0, mse=0.0, commit=0.0, norm=0.0, skipped=0)
            window["counts"].zero_()
        if step % args.checkpoint_every == 0 and step < run["steps"]:
            save()
    save()
    progress.close()
    if dist_.main:
        print(f"wrote {args.out} after {step} steps (checkpoint {checkpoint_path}, log {args.out}.log.csv)", flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# Phase I, progressive: residual stages with quantiser dropout


RVQ_KEYS = ["stride", "width", "latent_channels", "stages", "steps", "batch", "crop", "lr", "warmup", "seed", "name",
            "amp", "hold_out_every", "full_probability", "eval_crop", "commitment", "init_from", "init_codebooks", "train",
            "rate_prior", "rate_weight", "rate_temperature"]


def transforms_of(path: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """The transforms of any vqcodec model file (one-stage `vqvae.config` or progressive
    `rvq.config`): ({stride, width, latentChannels}, {key: float32 tensor} of `analysis.*` and
    `synthesis.*`)."""
    if not os.path.exists(path):
        raise Usage(f"--init-from {path}: no such file")
    tensors, metadata = modelfile.read(path)
    text = metadata.get(modelfile.VQVAE_CONFIG) or metadata.get(modelfile.RVQ_CONFIG)
    if text is None:
        raise Usage(f"--init-from {path}: not a vqcodec model file (no metadata vqvae.config or rvq.config)")
    value = json.loads(text)
    shape = {k: value[k] for k in ("stride", "width", "latentChannels")}
    tensors = modelfile.unpacked_transforms(tensors, shape)
    weights = {k: v.float() for k, v in tensors.items() if k.startswith(("analysis.", "synthesis."))}
    return shape, weights


def parse_stages(text: str) -> list[list[int]]:
    """"1x512,2x512,4x512" → [[1, 512], [2, 512], [4, 512]] (groups × codes per stage)."""
    stages = []
    for part in text.split(","):
        pieces = part.strip().lower().split("x")
        if len(pieces) != 2 or not all(p.strip().isdigit() for p in pieces):
            raise Usage(f"--stages: \"{part.strip()}\" is not GROUPSxCODES (e.g. --stages 1x512,2x512,4x512)")
        stages.append([int(pieces[0]), int(pieces[1])])
    return stages


def held_out_images(paths: list[str], crop: int, stride: int) -> list[torch.Tensor]:
    """The held-out images as evaluated: each image's centred crop of at most crop × crop pixels
    (0: the whole image, padded to the stride), decoded once."""
    return [datasets.centre_crop(datasets.load_rgb(p), crop, stride) for p in paths]


@torch.no_grad()
def evaluate_stages(model: ProgressiveVQVAE, images: list[torch.Tensor], device) -> dict:
    """Held-out quality at every stage count n = 1 … S: mean PSNR over the images of the
    reconstruction from the first n stages (pixels clamped to [0, 1], unrounded); the PSNR of the
    synthesis of the unquantised analysis output (what the transforms allow at any rate); and the rate
    bound without a prior: the zeroth-order entropy of each group's held-out symbols (bits per
    pixel, summed over the first n stages), beside the fixed bound Σ G·log2 K / stride². Each module
    is left in the mode it was in (a run that trains the synthesis alone keeps its quantizer in eval
    mode)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    config = model.config
    count = len(config.stages)
    psnrs = [0.0] * count
    unquantised = 0.0
    histograms = [torch.zeros(g, k, dtype=torch.float64) for g, k in config.stages]
    for x in images:
        x = x.to(device)
        analysed = model.analysis(x)
        unquantised += psnr(torch.mean((model.synthesis(analysed).clamp(0, 1) - x) ** 2).item())
        symbols, parts = model.quantizer.quantize(analysed)
        latent = torch.zeros_like(parts[0])
        for n in range(count):
            latent = latent + parts[n]
            y = model.synthesis(latent).clamp(0, 1)
            psnrs[n] += psnr(torch.mean((y - x) ** 2).item())
            s = symbols[n].permute(1, 0, 2, 3).reshape(config.stages[n][0], -1).cpu()
            histograms[n].scatter_add_(1, s, torch.ones_like(s, dtype=torch.float64))
    for module, training in modes:
        module.training = training
    area = config.stride ** 2
    entropy = []
    for h in histograms:
        p = h / h.sum(1, keepdim=True)
        entropy.append(float(-(p[p > 0] * torch.log2(p[p > 0])).sum()) / area)
    return {"heldOutImages": len(images),
            "heldOutPsnrByStages": [round(v / max(1, len(images)), 4) for v in psnrs],
            "heldOutPsnrUnquantised": round(unquantised / max(1, len(images)), 4),
            "heldOutEntropyBitsPerPixelByStages": [round(sum(entropy[:n + 1]), 5) for n in range(count)],
            "boundBitsPerPixelByStages": [round(config.bits_per_position(n + 1) / area, 5) for n in range(count)],
            "heldOutCodesUsed": [[int((row > 0).sum()) for row in h] for h in histograms]}


def stage_priors_of(path: str, option: str) -> tuple[ProgressivePrior, bool]:
    """The stage priors of a model file (`option` names it in errors): its float ones, or, where a
    file compacted for decoding keeps only the integer ones, those thawed (then True)."""
    if not os.path.exists(path):
        raise Usage(f"{option} {path}: no such file")
    try:
        tensors, metadata = modelfile.read(path)
        if modelfile.RVQ_PRIOR_CONFIG in metadata:
            return modelfile.load_rvq_prior(tensors, metadata), False
        if modelfile.RVQ_PRIOR_INT_CONFIG in metadata:
            return modelfile.thaw_rvq_prior(tensors, metadata), True
        raise ValueError("the file holds no stage priors, float or integer (metadata "
                         f"\"{modelfile.RVQ_PRIOR_CONFIG}\" or \"{modelfile.RVQ_PRIOR_INT_CONFIG}\")")
    except (ValueError, KeyError, RuntimeError) as error:
        raise Usage(f"{option} {path}: {error}")


def stage_priors_for_rate(path: str, config: RVQConfig) -> ProgressivePrior:
    """The stage priors of `path` that price a progressive run's symbols (`--rate-prior`); they
    must be priors for `config`'s stages."""
    prior, _ = stage_priors_of(path, "--rate-prior")
    found = [[c.groups, c.codebookSize] for c in prior.configs]
    if found != [list(stage) for stage in config.stages]:
        raise Usage(f"--rate-prior {path}: its stage priors are for stages {found}, this run's are "
                    f"{[list(stage) for stage in config.stages]}")
    conditions = [c.conditionChannels for c in prior.configs[1:]]
    if any(d not in (0, config.latentChannels) for d in conditions):
        raise Usage(f"--rate-prior {path}: its priors read {conditions} condition channels; this run's latent "
                    f"has {config.latentChannels}")
    return prior


def train_rvq(args, dist_: Distributed) -> int:
    checkpoint_path = args.out + ".ckpt.pt"
    sources = [os.path.realpath(d) for d in args.data]
    args.stages = parse_stages(args.stages) if args.stages else None
    if args.resume:
        if not os.path.exists(checkpoint_path):
            raise Usage(f"--resume: no checkpoint {checkpoint_path}")
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        if checkpoint.get("phase") != "rvq":
            raise Usage(f"{checkpoint_path} is not a checkpoint of a progressive (rvq) run")
        run = resumed_run(args, checkpoint, RVQ_KEYS)
        if sources != run["data"]:
            raise Usage(f"--data {' '.join(args.data)} differs from the checkpoint's {' '.join(run['data'])}; "
                        "a resumed run keeps its data")
    else:
        if os.path.exists(checkpoint_path):
            raise Usage(f"{checkpoint_path} holds a checkpoint of an earlier run; pass --resume to continue it, "
                        "or delete it to start afresh")
        checkpoint = None
        steps = args.steps or 10_000
        run = {
            "stride": args.stride or 8, "width": args.width or 64, "latent_channels": args.latent_channels or 64,
            "stages": args.stages or [[1, 512], [2, 512], [4, 512], [4, 512]], "steps": steps,
            "batch": args.batch or 8, "crop": args.crop or 128, "lr": args.lr or 1e-4,
            "warmup": args.warmup if args.warmup is not None else min(500, steps // 10),
            "clip_norm": 1.0, "seed": args.seed if args.seed is not None else 1, "name": args.name or "rvq",
            "amp": bool(args.amp), "data": sources,
            "hold_out_every": args.hold_out_every if args.hold_out_every is not None else 10,
            "full_probability": args.full_probability if args.full_probability is not None else 0.5,
            "eval_crop": args.eval_crop if args.eval_crop is not None else 256,
            "commitment": args.commitment or "stages",
            "init_from": os.path.realpath(args.init_from) if args.init_from else None,
            "init_codebooks": bool(args.init_codebooks),
            "train": args.train or "all",
            "rate_prior": os.path.realpath(args.rate_prior) if args.rate_prior else None,
            "rate_weight": args.rate_weight, "rate_temperature": args.rate_temperature,
            "command_line": " ".join(sys.argv),
        }
        if (run["rate_prior"] is None) != (run["rate_weight"] is None):
            raise Usage("--rate-prior and --rate-weight go together: the stage priors that price the symbols, "
                        "and how many units of MSE (images in [0, 1]) one bit per pixel is worth")
        if run["rate_weight"] is not None and not (math.isfinite(run["rate_weight"]) and run["rate_weight"] > 0):
            raise Usage(f"--rate-weight must be > 0, found {run['rate_weight']}")
        if run["rate_temperature"] is not None and not run["rate_prior"]:
            raise Usage("--rate-temperature needs --rate-prior")
        run["rate_temperature"] = run["rate_temperature"] if run["rate_temperature"] is not None else 0.1
        if not (math.isfinite(run["rate_temperature"]) and run["rate_temperature"] > 0):
            raise Usage(f"--rate-temperature must be > 0, found {run['rate_temperature']}")
        if run["rate_prior"] and run["train"] == "synthesis":
            raise Usage("--rate-prior prices the analysis's choice of codes; --train synthesis keeps the analysis fixed")
        if run["init_codebooks"] and not run["init_from"]:
            raise Usage("--init-codebooks needs --init-from (the progressive model whose codebooks to take)")
        if run["train"] == "synthesis" and not run["init_codebooks"]:
            raise Usage("--train synthesis keeps the analysis and the codebooks of the model it starts from: "
                        "give --init-from a progressive model of the same shape and --init-codebooks")
        if run["train"] == "transforms" and not run["init_codebooks"]:
            raise Usage("--train transforms keeps the codebooks of the model it starts from: give --init-from a "
                        "progressive model of the same stages and --init-codebooks")
    run.setdefault("commitment", "stages")
    run.setdefault("init_from", None)
    run.setdefault("init_codebooks", False)
    run.setdefault("train", "all")
    run.setdefault("rate_prior", None)
    run.setdefault("rate_weight", None)
    run.setdefault("rate_temperature", None)
    synthesis_only = run["train"] == "synthesis"
    codebooks_fixed = run["train"] in ("synthesis", "transforms")
    config = RVQConfig(run["stride"], run["width"], run["latent_channels"], tuple(map(tuple, run["stages"])))
    problem = config.problem()
    if problem:
        raise Usage(problem)
    if run["crop"] < config.stride or run["crop"] % config.stride:
        raise Usage(f"crop must be a multiple of the stride {config.stride}, found {run['crop']}")
    if not modelfile.is_valid_name(run["name"]):
        raise Usage(f"name must be 1 to 64 printable ASCII characters, found \"{run['name']}\"")
    if not 0 <= run["warmup"] <= run["steps"]:
        raise Usage(f"warm-up must be 0 to {run['steps']} steps, found {run['warmup']}")
    if not 0 <= run["full_probability"] <= 1:
        raise Usage(f"--full-stages-probability must be 0 to 1, found {run['full_probability']}")
    if run["batch"] % dist_.world:
        raise Usage(f"--batch {run['batch']} must be a multiple of the {dist_.world} processes")
    if synthesis_only and dist_.world > 1:
        raise Usage("--train synthesis runs in one process; start it without torchrun")
    local_batch = run["batch"] // dist_.world
    amp, amp_note = (bf16_support(dist_.device) if run["amp"] else (False, ""))

    groups = datasets.list_sources(run["data"])
    paths, held_paths = datasets.split_held_out(groups, run["hold_out_every"])
    torch.manual_seed(run["seed"])
    model = ProgressiveVQVAE(config, run["commitment"]).to(dist_.device)
    if run["init_from"] and not checkpoint:
        # A warm start: the transforms of a trained model of the same shape, or of a narrower one
        # widened so that it computes the same functions; the stage codebooks start from the first
        # batch's residuals unless --init-codebooks takes them from the same file.
        shape, weights = transforms_of(run["init_from"])
        wanted = {"stride": config.stride, "width": config.width, "latentChannels": config.latentChannels}
        narrower = (shape["stride"] == config.stride and shape["latentChannels"] == config.latentChannels
                    and shape["width"] < config.width)
        if shape != wanted and not narrower:
            raise Usage(f"--init-from {run['init_from']}: its transforms are {shape}, this run's are {wanted} "
                        "(a narrower width is widened; stride and latent channels must match)")
        if narrower and synthesis_only:
            raise Usage(f"--train synthesis: {run['init_from']} has width {shape['width']}, this run's is "
                        f"{config.width}; the analysis it keeps must be the file's own")
        if narrower:
            try:
                widen_transforms(model.analysis, model.synthesis, weights, config.stride, shape["width"])
            except (ValueError, KeyError) as error:
                raise Usage(f"--init-from {run['init_from']}: cannot widen its transforms: {error}")
        else:
            for prefix, module in (("analysis.", model.analysis), ("synthesis.", model.synthesis)):
                module.load_state_dict({k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)},
                                       strict=True)
        if run["init_codebooks"]:
            tensors, metadata = modelfile.read(run["init_from"])
            source_stages = json.loads(metadata.get(modelfile.RVQ_CONFIG, "{}")).get("stages")
            if source_stages != [list(stage) for stage in config.stages]:
                raise Usage(f"--init-codebooks: {run['init_from']} has stages {source_stages}, this run's are "
                            f"{[list(stage) for stage in config.stages]}")
            modelfile.load_stage_codebooks(model, tensors, run["init_from"])
    rate_prior = None
    if run["rate_prior"]:
        rate_prior = stage_priors_for_rate(run["rate_prior"], config).to(dist_.device).eval()
        for parameter in rate_prior.parameters():
            parameter.requires_grad_(False)
    parameters = (list(model.synthesis.parameters()) if synthesis_only
                  else list(model.analysis.parameters()) + list(model.synthesis.parameters()))
    optimizer = make_optimizer(parameters, run["lr"])
    step, elapsed_before = 0, 0.0
    if checkpoint:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        step, elapsed_before = checkpoint["step"], checkpoint["elapsed"]
    net = model
    if dist_.world > 1:
        no_buffer_sync = ({"forward_sync_buffers": False}
                          if "forward_sync_buffers" in inspect.signature(torch.nn.parallel.DistributedDataParallel).parameters
                          else {"broadcast_buffers": False})
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dist_.local] if dist_.device.type == "cuda" else None, **no_buffer_sync)
    held = held_out_images(held_paths, run["eval_crop"], config.stride) if dist_.main else []
    stage_text = " + ".join(f"{g}×{k}" for g, k in config.stages)
    bounds = " ".join(f"{config.bits_per_position(n + 1) / config.stride ** 2:.3f}" for n in range(len(config.stages)))
    if dist_.main:
        count = sum(p.numel() for p in parameters)
        print(f"{len(paths)} training images, {len(held_paths)} held out (every {run['hold_out_every']}th of each of "
              f"{len(groups)} folders, evaluated on centred crops of ≤ {run['eval_crop'] or 'whole'} px); progressive "
              f"VQ-VAE stride {config.stride}, width {config.width}, latent {config.latentChannels}, stages "
              f"{stage_text} (bound {bounds} bpp at 1…{len(config.stages)} stages), {count} parameters; quantiser "
              f"dropout: all stages with probability {run['full_probability']}, else uniform; commitment to "
              f"{'each used stage' if run['commitment'] == 'stages' else 'the decoded sum'}; batch "
              f"{run['batch']} × {run['crop']}², lr {run['lr']} (warm-up {run['warmup']}), seed {run['seed']}, "
              f"{dist_.description()}" + (f"; {amp_note}" if amp_note else "")
              + (f"; transforms initialised from {run['init_from']}" if run["init_from"] else "")
              + ("; training the synthesis alone (analysis and codebooks kept, so the symbols do not change)"
                 if synthesis_only else "")
              + ("; codebooks kept (no EMA updates, no restarts), so every code keeps its meaning"
                 if run["train"] == "transforms" else "")
              + (f"; rate term: {run['rate_weight']} × the soft bits per pixel of the stage priors of "
                 f"{run['rate_prior']} (temperature {run['rate_temperature']})" if rate_prior is not None else "")
              + (f"; resuming at step {step}" if step else ""), flush=True)

    loader = torch.utils.data.DataLoader(
        datasets.ImageCropBatches(paths, run["crop"], local_batch, run["seed"], dist_.rank, args.cache_mb),
        batch_size=None, sampler=range(step, run["steps"]), num_workers=args.workers,
        pin_memory=dist_.device.type == "cuda", persistent_workers=False,
        prefetch_factor=4 if args.workers > 0 else None)
    progress = Progress(args.out + ".log.csv" if dist_.main else None, run["steps"], step, elapsed_before)
    stages = len(config.stages)
    window = {"steps": 0, "mse": 0.0, "commit": 0.0, "rate": 0.0, "norm": 0.0, "skipped": 0,
              "counts": [torch.zeros(g, k, dtype=torch.float64) for g, k in config.stages]}
    last_metrics: dict | None = checkpoint.get("metrics") if checkpoint else None
    evaluation: dict | None = checkpoint.get("evaluation") if checkpoint else None
    non_finite, lr = 0, run["lr"]
    evaluate_every = args.evaluate_every or args.checkpoint_every

    def save():
        wall = elapsed_before + progress.session_seconds
        if dist_.main:
            save_checkpoint(checkpoint_path, {"phase": "rvq", "run": run, "step": step, "elapsed": wall,
                                              "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                              "metrics": last_metrics, "evaluation": evaluation})
            recipe = recipe_common(run, dist_, step, wall)
            recipe.update(amp="bf16" if amp else "none", holdOutEvery=run["hold_out_every"],
                          fullStagesProbability=run["full_probability"], commitment=run["commitment"],
                          heldOutImages=len(held_paths))
            if run["init_from"]:
                recipe.update(initFrom=os.path.basename(run["init_from"]))
            if run["init_codebooks"]:
                recipe.update(initCodebooks=True)
            if run["train"] != "all":
                recipe.update(trained=run["train"])
            if run["rate_prior"]:
                recipe.update(ratePrior=os.path.basename(run["rate_prior"]), rateWeight=run["rate_weight"],
                              rateTemperature=run["rate_temperature"])
            metadata = {modelfile.RVQ_CONFIG: config.json(), modelfile.NAME: run["name"],
                        "rvq.recipe": modelfile.compact_json(recipe)}
            metrics = dict(last_metrics or {})
            if evaluation:
                metrics.update(evaluation)
            if metrics:
                metadata["rvq.metrics"] = modelfile.compact_json(metrics)
            modelfile.write_atomically(modelfile.rvq_tensors(model, half=args.half), metadata, args.out,
                                       protect=tuple(paths) + tuple(held_paths))
        dist_.barrier()

    install_stop_handlers()
    model.train()
    if codebooks_fixed:
        model.quantizer.eval()              # no codebook updates (with synthesis: the analysis runs without gradient)
    time_limited = False
    for images in loader:
        if dist_.any(STOP["requested"] > 0):
            save()
            if dist_.main:
                print(f"interrupted: checkpoint of step {step} saved in {checkpoint_path}; "
                      "run the same command with --resume to continue", flush=True)
            progress.close()
            return 130
        if args.max_seconds and dist_.any(progress.session_seconds >= args.max_seconds):
            time_limited = True
            break
        images = images.to(dist_.device, non_blocking=True).float().div_(255)
        generator = torch.Generator(device=dist_.device)
        generator.manual_seed(stream_seed(run["seed"], step, 2))
        dropout = torch.Generator()
        dropout.manual_seed(stream_seed(run["seed"] + 1_000_003 * dist_.rank, step, 4))
        counts_per_example = stage_counts(local_batch, stages, run["full_probability"], dropout, dist_.device)
        with torch.autocast(device_type=dist_.device.type, dtype=torch.bfloat16, enabled=amp):
            if synthesis_only:
                _, mse, commitment, _, counts = model.forward_synthesis(images, counts_per_example)
            elif rate_prior is not None:
                _, mse, commitment, _, counts, rate = net(images, counts_per_example, generator,
                                                          rate=(rate_prior, run["rate_temperature"]))
            else:
                _, mse, commitment, _, counts = net(images, counts_per_example, generator)
            loss = mse + commitment
            if rate_prior is not None:
                loss = loss + run["rate_weight"] * rate
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        lr = learning_rate(step, run["lr"], run["warmup"], run["steps"])
        norm, updated = optimizer_step(parameters, optimizer, loss, run["clip_norm"], lr)
        non_finite = 0 if updated else non_finite + 1
        if non_finite >= 10:
            raise RuntimeError(f"training diverged at step {step}: ten updates in a row had a non-finite loss or "
                               "gradient; resume from the last checkpoint with a lower --lr")
        step += 1
        window["steps"] += 1
        if updated:
            window["mse"] += mse.item()
            window["commit"] += commitment.item()
            window["rate"] += rate.item() if rate_prior is not None else 0.0
            window["norm"] += norm
        else:
            window["skipped"] += 1
        for total, c in zip(window["counts"], counts):
            total += c.double().cpu()
        evaluated = False
        if (step % evaluate_every == 0 or step == run["steps"]) and held_paths:
            if dist_.main:
                evaluation = evaluate_stages(model, held, dist_.device)
                evaluation["heldOutStep"] = step
            evaluated = True
            dist_.barrier()
        if step % args.log_every == 0 or step == run["steps"] or evaluated:
            mse_sum, commit_sum, rate_sum = dist_.sum([window["mse"], window["commit"], window["rate"]])
            updated_steps = max(1, window["steps"] - window["skipped"])
            mean_mse, mean_commit = mse_sum / dist_.world / updated_steps, commit_sum / dist_.world / updated_steps
            mean_rate = rate_sum / dist_.world / updated_steps
            used = [[int((row > 0).sum()) for row in c] for c in window["counts"]]
            ppl = [perplexity(c) for c in window["counts"]]
            last_metrics = {"mse": mean_mse, "psnr": psnr(mean_mse), "commitment": mean_commit,
                            "codesUsed": used, "perplexity": ppl}
            if dist_.main:
                text = (f"loss {mean_mse + mean_commit:.5f}  mse {mean_mse:.5f}  psnr {psnr(mean_mse):.2f} dB (mixed "
                        f"stage counts)  commit {mean_commit:.5f}  "
                        + (f"soft rate {mean_rate:.4f} bpp  " if rate_prior is not None else "")
                        + f"|g| {window['norm'] / updated_steps:.3f}  "
                        f"lr {lr:.2e}  codes " + " | ".join(
                            f"s{k + 1} " + " ".join(str(u) for u in used[k]) + f" ppl {sum(ppl[k]) / len(ppl[k]):.0f}"
                            for k in range(stages))
                        + (f"  skipped {window['skipped']} non-finite" if window["skipped"] else ""))
                if evaluated:
                    text += ("  held-out PSNR by stages " + " ".join(f"{v:.2f}" for v in evaluation["heldOutPsnrByStages"])
                             + f" dB (unquantised {evaluation['heldOutPsnrUnquantised']:.2f}), entropy "
                             + " ".join(f"{v:.3f}" for v in evaluation["heldOutEntropyBitsPerPixelByStages"])
                             + " bpp")
                row = {"loss": f"{mean_mse + mean_commit:.6g}", "mse": f"{mean_mse:.6g}",
                       "psnr_db": f"{psnr(mean_mse):.4f}", "commitment": f"{mean_commit:.6g}",
                       "grad_norm": f"{window['norm'] / updated_steps:.4g}", "lr": f"{lr:.4e}",
                       "codes": " | ".join(" ".join(map(str, u)) for u in used),
                       "perplexity": " | ".join(" ".join(f"{p:.1f}" for p in pk) for pk in ppl),
                       "skipped": window["skipped"]}
                if rate_prior is not None:
                    row["soft_rate_bpp"] = f"{mean_rate:.5f}"
                for n in range(stages):
                    row[f"held_out_psnr_{n + 1}"] = f"{evaluation['heldOutPsnrByStages'][n]:.4f}" if evaluated else ""
                for n in range(stages):
                    row[f"held_out_entropy_bpp_{n + 1}"] = (
                        f"{evaluation['heldOutEntropyBitsPerPixelByStages'][n]:.5f}" if evaluated else "")
                row["held_out_psnr_unquantised"] = f"{evaluation['heldOutPsnrUnquantised']:.4f}" if evaluated else ""
                progress.report(step, text, row)
            window.update(steps=0, mse=0.0, commit=0.0, rate=0.0, norm=0.0, skipped=0)
            for c in window["counts"]:
                c.zero_()
        if step % args.checkpoint_every == 0 and step < run["steps"]:
            save()
    save()
    progress.close()
    if dist_.main:
        if time_limited:
            print(f"time limit of {args.max_seconds} s reached at step {step} of {run['steps']}", flush=True)
        if evaluation:
            print(f"held out ({evaluation['heldOutImages']} images, step {evaluation['heldOutStep']}): PSNR by stages "
                  + " ".join(f"{v:.2f}" for v in evaluation["heldOutPsnrByStages"]) + " dB", flush=True)
        print(f"wrote {args.out} after {step} steps (checkpoint {checkpoint_path}, log {args.out}.log.csv)", flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# Phase II


PRIOR_KEYS = ["embedding", "channels", "blocks", "kernel", "head", "steps", "batch", "crop", "lr", "warmup", "seed",
              "hold_out_every", "amp"]


def vqvae_checksum(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    """SHA-256 of the VQ-VAE's tensors and configuration: a resumed run must see the same VQ-VAE."""
    h = hashlib.sha256(metadata.get(modelfile.VQVAE_CONFIG, "").encode())
    for key in sorted(k for k in tensors if k.startswith(("analysis.", "synthesis.", "quantizer.codebook"))):
        h.update(key.encode())
        h.update(tensors[key].float().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def symbol_maps(vqvae: VQVAE, paths: list[str], dist_: Distributed) -> list[datasets.SymbolMap]:
    """Each image padded to the stride and encoded whole; the processes share the work."""
    maps = []
    for i in range(dist_.rank, len(paths), dist_.world):
        image = datasets.load_rgb(paths[i])
        x = datasets.padded_image(image, vqvae.config.stride).to(dist_.device)
        symbols = vqvae.encode(x)[0].cpu()
        maps.append((i, datasets.SymbolMap(paths[i], image.shape[0] * image.shape[1], symbols)))
        if dist_.main and sys.stdout.isatty():
            print(f"\rencoding images with the VQ-VAE: {i + 1}/{len(paths)}", end="", flush=True)
    if dist_.main and sys.stdout.isatty():
        print()
    if dist_.world > 1:
        gathered = [None] * dist_.world
        dist.all_gather_object(gathered, maps)
        maps = [m for part in gathered for m in part]
    return [m for _, m in sorted(maps, key=lambda pair: pair[0])]


@torch.no_grad()
def held_out_rate(prior: PixelCNNPrior, maps: list[datasets.SymbolMap], device) -> dict | None:
    """Float32 cross-entropy of each held-out map, whole (one tile): bits per symbol and per pixel."""
    if not maps:
        return None
    prior.eval()
    bits, symbols, pixels = 0.0, 0, 0
    for m in maps:
        s = m.symbols.unsqueeze(0).to(device)
        logits = prior(s)
        bits += prior.cross_entropy(logits, s).item() * s.numel() / math.log(2)
        symbols += s.numel()
        pixels += m.pixels
    prior.train()
    return {"heldOutImages": len(maps), "heldOutBitsPerSymbol": bits / symbols, "heldOutBitsPerPixel": bits / pixels}


def train_prior(args, dist_: Distributed) -> int:
    if not args.model:
        raise Usage("prior needs --model, the model file holding the trained VQ-VAE")
    if not os.path.exists(args.model):
        raise Usage(f"--model {args.model}: no such file")
    output = args.out or args.model
    checkpoint_path = output + ".prior.ckpt.pt"
    base_tensors, base_metadata = modelfile.read(args.model)
    vqvae, _, _ = modelfile.load_vqvae(args.model)
    checksum = vqvae_checksum(base_tensors, base_metadata)
    if args.resume:
        if not os.path.exists(checkpoint_path):
            raise Usage(f"--resume: no checkpoint {checkpoint_path}")
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        if checkpoint.get("phase") != "prior":
            raise Usage(f"{checkpoint_path} is not a phase-II checkpoint")
        run = resumed_run(args, checkpoint, PRIOR_KEYS)
        if run["vqvae_checksum"] != checksum:
            raise Usage(f"the VQ-VAE in {args.model} differs from the one the checkpoint's run started with")
        if os.path.realpath(args.data) != run["data"]:
            raise Usage(f"--data {args.data} differs from the checkpoint's {run['data']}; a resumed run keeps its data")
    else:
        if os.path.exists(checkpoint_path):
            raise Usage(f"{checkpoint_path} holds a checkpoint of an earlier run; pass --resume to continue it, "
                        "or delete it to start afresh")
        checkpoint = None
        steps = args.steps or 5000
        run = {
            "embedding": args.embedding or 16, "channels": args.channels or 64, "blocks": args.blocks or 4,
            "kernel": args.kernel or 3, "head": args.head or 128, "steps": steps, "batch": args.batch or 16,
            "crop": args.crop or 16, "lr": args.lr or 1e-3,
            "warmup": args.warmup if args.warmup is not None else min(500, steps // 10), "clip_norm": 1.0,
            "seed": args.seed if args.seed is not None else 1,
            "hold_out_every": args.hold_out_every if args.hold_out_every is not None else 10,
            "amp": bool(args.amp), "data": os.path.realpath(args.data), "model": os.path.realpath(args.model),
            "vqvae_checksum": checksum, "command_line": " ".join(sys.argv),
        }
    c = vqvae.config
    config = PriorConfig(c.groups, c.codebookSize, run["embedding"], run["channels"], run["blocks"], run["kernel"],
                         run["head"])
    problem = config.problem()
    if problem:
        raise Usage(problem)
    if not 0 <= run["warmup"] <= run["steps"]:
        raise Usage(f"warm-up must be 0 to {run['steps']} steps, found {run['warmup']}")
    if run["batch"] % dist_.world:
        raise Usage(f"--batch {run['batch']} must be a multiple of the {dist_.world} processes")
    local_batch = run["batch"] // dist_.world

    paths = datasets.list_images(run["data"])
    if dist_.main:
        print(f"loading {run['data']} …", flush=True)
    vqvae.to(dist_.device).eval()
    maps = symbol_maps(vqvae, paths, dist_)
    del vqvae
    training = [m for i, m in enumerate(maps) if not datasets.held_out(i, run["hold_out_every"], len(maps))]
    held = [m for i, m in enumerate(maps) if datasets.held_out(i, run["hold_out_every"], len(maps))]
    largest = min(min(m.symbols.shape[1], m.symbols.shape[2]) for m in training)
    crop = min(run["crop"], largest)

    torch.manual_seed(run["seed"])
    prior = PixelCNNPrior(config).to(dist_.device)
    parameters = list(prior.parameters())
    optimizer = make_optimizer(parameters, run["lr"])
    step, elapsed_before = 0, 0.0
    if checkpoint:
        prior.load_state_dict(checkpoint["prior"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        step, elapsed_before = checkpoint["step"], checkpoint["elapsed"]
    net = prior
    if dist_.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            prior, device_ids=[dist_.local] if dist_.device.type == "cuda" else None)
    if dist_.main:
        if crop < run["crop"]:
            print(f"note: the smallest training map has {largest} positions on a side; crops are {crop}, not {run['crop']}")
        print(f"{len(training)} training maps ({sum(m.symbols.numel() for m in training)} symbols), {len(held)} held out; "
              f"prior G {config.groups}, K {config.codebookSize}, E {config.embeddingDimension}, C {config.channels}, "
              f"{config.blocks} blocks, kernel {config.kernelSize}, head {config.headChannels}, "
              f"{sum(p.numel() for p in parameters)} parameters; batch {run['batch']} × {crop}², lr {run['lr']} "
              f"(warm-up {run['warmup']}), seed {run['seed']}, {dist_.description()}"
              + (f"; resuming at step {step}" if step else ""), flush=True)

    progress = Progress(output + ".prior.log.csv" if dist_.main else None, run["steps"], step, elapsed_before)
    evaluation: dict | None = checkpoint.get("evaluation") if checkpoint else None
    window = {"steps": 0, "bits": 0.0, "norm": 0.0, "skipped": 0}
    non_finite, lr = 0, run["lr"]
    base_tensors, base_metadata = modelfile.without_prior(base_tensors, base_metadata)
    protect = tuple(paths) + ((args.model,) if args.out and args.out != args.model else ())

    def save():
        wall = elapsed_before + progress.session_seconds
        if dist_.main:
            save_checkpoint(checkpoint_path, {"phase": "prior", "run": run, "step": step, "elapsed": wall,
                                              "prior": prior.state_dict(), "optimizer": optimizer.state_dict(),
                                              "evaluation": evaluation})
            tensors = dict(base_tensors)
            tensors.update(modelfile.prior_tensors(prior, half=args.half))
            metadata = dict(base_metadata)
            recipe = recipe_common(run, dist_, step, wall)
            recipe.update(model=recorded_path(run["model"]), holdOutEvery=run["hold_out_every"])
            metadata[modelfile.PRIOR_CONFIG] = config.json()
            metadata["prior.recipe"] = modelfile.compact_json(recipe)
            if evaluation:
                metadata["prior.metrics"] = modelfile.compact_json(evaluation)
            modelfile.write_atomically(tensors, metadata, output, protect=protect)
        dist_.barrier()

    install_stop_handlers()
    prior.train()
    evaluate_every = args.evaluate_every or args.checkpoint_every
    while step < run["steps"]:
        if dist_.any(STOP["requested"] > 0):
            save()
            if dist_.main:
                print(f"interrupted: checkpoint of step {step} saved in {checkpoint_path}; "
                      "run the same command with --resume to continue", flush=True)
            progress.close()
            return 130
        symbols = datasets.symbol_crops(training, local_batch, crop, run["seed"], dist_.rank, step).to(dist_.device)
        with autocast(dist_, run["amp"]):
            logits = net(symbols)
        loss = prior.cross_entropy(logits, symbols)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        lr = learning_rate(step, run["lr"], run["warmup"], run["steps"])
        norm, updated = optimizer_step(parameters, optimizer, loss, run["clip_norm"], lr)
        non_finite = 0 if updated else non_finite + 1
        if non_finite >= 10:
            raise RuntimeError(f"training diverged at step {step}: ten updates in a row had a non-finite loss or "
                               "gradient; resume from the last checkpoint with a lower --lr")
        step += 1
        window["steps"] += 1
        if updated:
            window["bits"] += loss.item() / math.log(2)
            window["norm"] += norm
        else:
            window["skipped"] += 1
        evaluated = False
        if (step % evaluate_every == 0 or step == run["steps"]) and held:
            if dist_.main:
                evaluation = held_out_rate(prior, held, dist_.device)
            evaluated = True
            dist_.barrier()
        if step % args.log_every == 0 or step == run["steps"] or evaluated:
            (bits_sum,) = dist_.sum([window["bits"]])
            updated_steps = max(1, window["steps"] - window["skipped"])
            bits = bits_sum / dist_.world / updated_steps
            if dist_.main:
                text = f"bits/symbol {bits:.4f}  |g| {window['norm'] / updated_steps:.3f}  lr {lr:.2e}"
                if evaluated and evaluation:
                    text += (f"  held-out {evaluation['heldOutBitsPerSymbol']:.4f} bits/symbol "
                             f"{evaluation['heldOutBitsPerPixel']:.4f} bpp")
                progress.report(step, text, {
                    "bits_per_symbol": f"{bits:.6g}", "grad_norm": f"{window['norm'] / updated_steps:.4g}",
                    "lr": f"{lr:.4e}",
                    "held_out_bits_per_symbol": f"{evaluation['heldOutBitsPerSymbol']:.6g}" if evaluated and evaluation else "",
                    "held_out_bpp": f"{evaluation['heldOutBitsPerPixel']:.6g}" if evaluated and evaluation else "",
                    "skipped": window["skipped"]})
            window.update(steps=0, bits=0.0, norm=0.0, skipped=0)
        if step % args.checkpoint_every == 0 and step < run["steps"]:
            save()
    save()
    progress.close()
    if dist_.main:
        if evaluation:
            print(f"held out ({evaluation['heldOutImages']} images, each one tile): float prior "
                  f"{evaluation['heldOutBitsPerSymbol']:.4f} bits/symbol, {evaluation['heldOutBitsPerPixel']:.4f} bpp")
        print(f"wrote {output} after {step} steps (checkpoint {checkpoint_path}, log {output}.prior.log.csv); "
              f"make it a codec model with: vqcodec freeze {output} CODEC.safetensors", flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# Phase II, progressive: one stage-conditional prior per stage


RVQ_PRIOR_KEYS = ["embedding", "channels", "blocks", "kernel", "head", "steps", "batch", "crop", "lr", "warmup", "seed",
                  "hold_out_every", "amp", "unconditioned", "init_from"]


def head_widths(text: str) -> int | list[int]:
    """--head of rvq-prior: "128" (every stage) or "128,128,64,64" (one per stage)."""
    try:
        widths = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a width or a comma-separated list of widths")
    if any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"{text!r}: widths must be at least 1")
    return widths[0] if len(widths) == 1 else widths


def rvq_checksum(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    """SHA-256 of the progressive model's transforms, codebooks and configuration."""
    h = hashlib.sha256(metadata.get(modelfile.RVQ_CONFIG, "").encode())
    for key in sorted(k for k in tensors if k.startswith(("analysis.", "synthesis.", "quantizer."))):
        h.update(key.encode())
        h.update(tensors[key].float().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def stage_symbol_maps(model: ProgressiveVQVAE, paths: list[str], dist_: Distributed) -> list[datasets.StageSymbolMap]:
    """Each image padded to the stride and encoded whole, every stage; the processes share the work."""
    maps = []
    for i in range(dist_.rank, len(paths), dist_.world):
        image = datasets.load_rgb(paths[i])
        x = datasets.padded_image(image, model.config.stride).to(dist_.device)
        symbols = [s[0].cpu() for s in model.encode(x)]
        maps.append((i, datasets.StageSymbolMap(paths[i], image.shape[0] * image.shape[1], symbols)))
    if dist_.world > 1:
        gathered = [None] * dist_.world
        dist.all_gather_object(gathered, maps)
        maps = [m for part in gathered for m in part]
    return [m for _, m in sorted(maps, key=lambda pair: pair[0])]


def stage_conditions(model: ProgressiveVQVAE, symbols: list[torch.Tensor]) -> list[torch.Tensor | None]:
    """Stage k's condition: the decoded latent of stages 1…k−1 (None for stage 1)."""
    conditions, running = [None], None
    for k, q in enumerate(model.quantizer.stages()[:-1]):
        part = q.lookup(symbols[k])
        running = part if running is None else running + part
        conditions.append(running)
    return conditions


@torch.no_grad()
def held_out_stage_rates(prior: ProgressivePrior, model: ProgressiveVQVAE, maps: list[datasets.StageSymbolMap],
                         device) -> dict | None:
    """Float32 cross-entropy of each held-out map, whole: bits per symbol per stage and the bits per
    pixel of the first n stages together, n = 1 … S."""
    if not maps:
        return None
    prior.eval()
    count = len(prior.configs)
    bits, symbols, pixels = [0.0] * count, [0] * count, 0
    for m in maps:
        s = [t.unsqueeze(0).to(device) for t in m.symbols]
        for k, (p, value) in enumerate(zip(prior.cross_entropies(s, stage_conditions(model, s)), s)):
            bits[k] += p.item() * value.numel() / math.log(2)
            symbols[k] += value.numel()
        pixels += m.pixels
    prior.train()
    return {"heldOutImages": len(maps),
            "heldOutBitsPerSymbolByStage": [round(b / n, 5) for b, n in zip(bits, symbols)],
            "heldOutBitsPerPixelByStages": [round(sum(bits[:n + 1]) / pixels, 5) for n in range(count)]}


def train_rvq_prior(args, dist_: Distributed) -> int:
    if not os.path.exists(args.model):
        raise Usage(f"--model {args.model}: no such file")
    output = args.out or args.model
    checkpoint_path = output + ".prior.ckpt.pt"
    sources = [os.path.realpath(d) for d in args.data]
    model, base_tensors, base_metadata = modelfile.load_rvq(args.model)
    checksum = rvq_checksum(base_tensors, base_metadata)
    if args.resume:
        if not os.path.exists(checkpoint_path):
            raise Usage(f"--resume: no checkpoint {checkpoint_path}")
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        if checkpoint.get("phase") != "rvq-prior":
            raise Usage(f"{checkpoint_path} is not a checkpoint of a stage-conditional prior run")
        run = resumed_run(args, checkpoint, RVQ_PRIOR_KEYS)
        if run["rvq_checksum"] != checksum:
            raise Usage(f"the progressive model in {args.model} differs from the one the checkpoint's run started with")
        if sources != run["data"]:
            raise Usage(f"--data {' '.join(args.data)} differs from the checkpoint's {' '.join(run['data'])}; "
                        "a resumed run keeps its data")
    else:
        if os.path.exists(checkpoint_path):
            raise Usage(f"{checkpoint_path} holds a checkpoint of an earlier run; pass --resume to continue it, "
                        "or delete it to start afresh")
        checkpoint = None
        steps = args.steps or 5000
        run = {
            "embedding": args.embedding or 16, "channels": args.channels or 64, "blocks": args.blocks or 4,
            "kernel": args.kernel or 3, "head": args.head or 128, "steps": steps, "batch": args.batch or 16,
            "crop": args.crop or 16, "lr": args.lr or 1e-3,
            "warmup": args.warmup if args.warmup is not None else min(500, steps // 10), "clip_norm": 1.0,
            "seed": args.seed if args.seed is not None else 1,
            "hold_out_every": args.hold_out_every if args.hold_out_every is not None else 10,
            "amp": bool(args.amp), "data": sources, "model": os.path.realpath(args.model),
            "rvq_checksum": checksum, "unconditioned": bool(args.unconditioned),
            "init_from": os.path.realpath(args.init_from) if args.init_from else None,
            "command_line": " ".join(sys.argv),
        }
    c = model.config
    run.setdefault("unconditioned", False)
    run.setdefault("init_from", None)
    heads = run["head"] if isinstance(run["head"], list) else [run["head"]] * len(c.stages)
    if len(heads) != len(c.stages):
        raise Usage(f"--head {','.join(map(str, heads))} gives {len(heads)} widths; the model has {len(c.stages)} "
                    "stages (give one width for all, or one per stage)")
    configs = [StagePriorConfig(g, k, run["embedding"], run["channels"], run["blocks"], run["kernel"], heads[i],
                                0 if i == 0 or run["unconditioned"] else c.latentChannels)
               for i, (g, k) in enumerate(c.stages)]
    for i, config in enumerate(configs):
        problem = config.problem()
        if problem:
            raise Usage(f"stage {i + 1}: {problem}")
    if not 0 <= run["warmup"] <= run["steps"]:
        raise Usage(f"warm-up must be 0 to {run['steps']} steps, found {run['warmup']}")
    if run["batch"] % dist_.world:
        raise Usage(f"--batch {run['batch']} must be a multiple of the {dist_.world} processes")
    if dist_.world > 1:
        raise Usage("rvq-prior runs in one process (one GPU is ample for the priors); start it without torchrun")
    local_batch = run["batch"]
    amp, amp_note = (bf16_support(dist_.device) if run["amp"] else (False, ""))

    groups = datasets.list_sources(run["data"])
    paths, held_paths = datasets.split_held_out(groups, run["hold_out_every"])
    if dist_.main:
        print(f"encoding {len(paths) + len(held_paths)} images with the progressive model …", flush=True)
    model.to(dist_.device).eval()
    training = stage_symbol_maps(model, paths, dist_)
    held = stage_symbol_maps(model, held_paths, dist_)
    largest = min(min(m.symbols[0].shape[1], m.symbols[0].shape[2]) for m in training)
    crop = min(run["crop"], largest)

    torch.manual_seed(run["seed"])
    prior = ProgressivePrior(configs).to(dist_.device)
    if run["init_from"] and not checkpoint:
        # A warm start: the stage priors of another model file (of the same sizes), for instance
        # those trained on the symbols of the transforms this model's were trained from.
        source, thawed = stage_priors_of(run["init_from"], "--init-from")
        if thawed and dist_.main:
            print(f"--init-from: {run['init_from']} has no float stage priors; starting from its integer "
                  "ones, thawed (the same logits up to their rounding)", flush=True)
        try:
            narrowed = warm_start_stage_priors(prior, source)
        except ValueError as error:
            raise Usage(f"--init-from {run['init_from']}: {error} (give the same --channels, --blocks, --kernel "
                        "and --embedding; --head may be narrower)")
        if narrowed and dist_.main:
            print(f"--init-from: the heads of stages {', '.join(map(str, narrowed))} narrowed (the hidden "
                  "channels that carry the most kept)", flush=True)
    parameters = list(prior.parameters())
    optimizer = make_optimizer(parameters, run["lr"])
    step, elapsed_before = 0, 0.0
    if checkpoint:
        prior.load_state_dict(checkpoint["prior"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        step, elapsed_before = checkpoint["step"], checkpoint["elapsed"]
    stages = len(configs)
    if dist_.main:
        if crop < run["crop"]:
            print(f"note: the smallest training map has {largest} positions on a side; crops are {crop}, not {run['crop']}")
        print(f"{len(training)} training maps, {len(held)} held out; {stages} stage priors (E {run['embedding']}, "
              f"C {run['channels']}, {run['blocks']} blocks, kernel {run['kernel']}, head "
              f"{','.join(map(str, heads))}; "
              + ("unconditioned" if run["unconditioned"] else
                 f"stages 2…{stages} read the decoded latent of the stages before them")
              + f"), {sum(p.numel() for p in parameters)} "
              f"parameters; batch {run['batch']} × {crop}², lr {run['lr']} (warm-up {run['warmup']}), seed "
              f"{run['seed']}, {dist_.description()}" + (f"; {amp_note}" if amp_note else "")
              + (f"; resuming at step {step}" if step else ""), flush=True)

    progress = Progress(output + ".prior.log.csv" if dist_.main else None, run["steps"], step, elapsed_before)
    evaluation: dict | None = checkpoint.get("evaluation") if checkpoint else None
    window = {"steps": 0, "bits": [0.0] * stages, "norm": 0.0, "skipped": 0}
    non_finite, lr = 0, run["lr"]
    base_tensors = {k: v for k, v in base_tensors.items() if not k.startswith(("prior.", "prior_int."))}
    base_metadata = {k: v for k, v in base_metadata.items() if not k.startswith(("prior.", "prior_int.", "rvq.prior."))}
    protect = tuple(paths) + tuple(held_paths) + ((args.model,) if args.out and args.out != args.model else ())

    def save():
        wall = elapsed_before + progress.session_seconds
        if dist_.main:
            save_checkpoint(checkpoint_path, {"phase": "rvq-prior", "run": run, "step": step, "elapsed": wall,
                                              "prior": prior.state_dict(), "optimizer": optimizer.state_dict(),
                                              "evaluation": evaluation})
            tensors = dict(base_tensors)
            tensors.update(modelfile.rvq_prior_tensors(prior, half=args.half))
            metadata = dict(base_metadata)
            recipe = recipe_common(run, dist_, step, wall)
            recipe.update(model=recorded_path(run["model"]), holdOutEvery=run["hold_out_every"], amp="bf16" if amp else "none")
            if run["init_from"]:
                recipe.update(initFrom=os.path.basename(run["init_from"]))
            metadata[modelfile.RVQ_PRIOR_CONFIG] = prior.json()
            metadata["rvq.prior.recipe"] = modelfile.compact_json(recipe)
            if evaluation:
                metadata["rvq.prior.metrics"] = modelfile.compact_json(evaluation)
            modelfile.write_atomically(tensors, metadata, output, protect=protect)
        dist_.barrier()

    install_stop_handlers()
    prior.train()
    evaluate_every = args.evaluate_every or args.checkpoint_every
    area = c.stride ** 2
    time_limited = False
    while step < run["steps"]:
        if dist_.any(STOP["requested"] > 0):
            save()
            if dist_.main:
                print(f"interrupted: checkpoint of step {step} saved in {checkpoint_path}; "
                      "run the same command with --resume to continue", flush=True)
            progress.close()
            return 130
        if args.max_seconds and dist_.any(progress.session_seconds >= args.max_seconds):
            time_limited = True
            break
        symbols = [s.to(dist_.device) for s in
                   datasets.stage_symbol_crops(training, local_batch, crop, run["seed"], dist_.rank, step)]
        with torch.no_grad():
            conditions = stage_conditions(model, symbols)
        with torch.autocast(device_type=dist_.device.type, dtype=torch.bfloat16, enabled=amp):
            logits = [p(s, cond) for p, s, cond in zip(prior.stages(), symbols, conditions)]
        losses = [p.cross_entropy(lg, s) for p, lg, s in zip(prior.stages(), logits, symbols)]
        loss = sum(losses)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        lr = learning_rate(step, run["lr"], run["warmup"], run["steps"])
        norm, updated = optimizer_step(parameters, optimizer, loss, run["clip_norm"], lr)
        non_finite = 0 if updated else non_finite + 1
        if non_finite >= 10:
            raise RuntimeError(f"training diverged at step {step}: ten updates in a row had a non-finite loss or "
                               "gradient; resume from the last checkpoint with a lower --lr")
        step += 1
        window["steps"] += 1
        if updated:
            for k, value in enumerate(losses):
                window["bits"][k] += value.item() / math.log(2)
            window["norm"] += norm
        else:
            window["skipped"] += 1
        evaluated = False
        if (step % evaluate_every == 0 or step == run["steps"]) and held:
            if dist_.main:
                evaluation = held_out_stage_rates(prior, model, held, dist_.device)
                evaluation["heldOutStep"] = step
            evaluated = True
            dist_.barrier()
        if step % args.log_every == 0 or step == run["steps"] or evaluated:
            updated_steps = max(1, window["steps"] - window["skipped"])
            bits = [b / updated_steps for b in window["bits"]]
            bpp = [sum(bits[k] * configs[k].groups for k in range(n + 1)) / area for n in range(stages)]
            if dist_.main:
                text = ("bits/symbol by stage " + " ".join(f"{b:.4f}" for b in bits)
                        + "  bpp by stages " + " ".join(f"{b:.4f}" for b in bpp)
                        + f"  |g| {window['norm'] / updated_steps:.3f}  lr {lr:.2e}")
                if evaluated and evaluation:
                    text += ("  held-out bits/symbol " + " ".join(f"{b:.4f}" for b in evaluation["heldOutBitsPerSymbolByStage"])
                             + ", bpp " + " ".join(f"{b:.4f}" for b in evaluation["heldOutBitsPerPixelByStages"]))
                row = {"grad_norm": f"{window['norm'] / updated_steps:.4g}", "lr": f"{lr:.4e}", "skipped": window["skipped"]}
                for k in range(stages):
                    row[f"bits_per_symbol_{k + 1}"] = f"{bits[k]:.6g}"
                for k in range(stages):
                    row[f"held_out_bits_per_symbol_{k + 1}"] = (
                        f"{evaluation['heldOutBitsPerSymbolByStage'][k]:.6g}" if evaluated and evaluation else "")
                for k in range(stages):
                    row[f"held_out_bpp_{k + 1}"] = (
                        f"{evaluation['heldOutBitsPerPixelByStages'][k]:.6g}" if evaluated and evaluation else "")
                progress.report(step, text, row)
            window.update(steps=0, bits=[0.0] * stages, norm=0.0, skipped=0)
        if step % args.checkpoint_every == 0 and step < run["steps"]:
            save()
    save()
    progress.close()
    if dist_.main:
        if time_limited:
            print(f"time limit of {args.max_seconds} s reached at step {step} of {run['steps']}", flush=True)
        if evaluation:
            print(f"held out ({evaluation['heldOutImages']} images, step {evaluation['heldOutStep']}): float prior "
                  + " ".join(f"{b:.4f}" for b in evaluation["heldOutBitsPerPixelByStages"]) + " bpp at 1…"
                  f"{stages} stages", flush=True)
        print(f"wrote {output} after {step} steps (checkpoint {checkpoint_path}, log {output}.prior.log.csv)", flush=True)
    return 0


# ---------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip(),
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = p.add_subparsers(dest="phase", required=True)

    def common(s, data=True):
        if data:
            s.add_argument("--data", required=True, help="folder of PNG/JPEG training images (not searched recursively)")
        s.add_argument("--steps", type=int, help="training steps in total")
        s.add_argument("--batch", type=int, help="crops per step, over all processes")
        s.add_argument("--lr", type=float, help="peak learning rate")
        s.add_argument("--warmup", type=int, help="warm-up steps (default: a tenth of --steps, at most 500)")
        s.add_argument("--seed", type=int, help="seed of the weights, the crops and the codebook restarts")
        s.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints (default 500)")
        s.add_argument("--log-every", type=int, default=10, help="steps between progress lines (default 10)")
        s.add_argument("--resume", action="store_true", help="continue the run of the checkpoint beside --out")
        s.add_argument("--half", action="store_true", help="store float weights in F16 (codebook stays F32)")
        s.add_argument("--amp", action="store_true", default=None,
                       help="bfloat16 autocast for the convolutions (GDN, quantizer and losses stay float32)")
        s.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
        s.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: its own choice)")

    v = sub.add_parser("vqvae", help="phase I: analysis, synthesis and codebooks")
    common(v)
    v.add_argument("--out", required=True, help="model file to write (safetensors)")
    v.add_argument("--stride", type=int, help="downsampling factor, a power of two (default 8)")
    v.add_argument("--width", type=int, help="channels of the hidden layers (default 128)")
    v.add_argument("--latent-channels", type=int, help="latent channels, a multiple of --groups (default 64)")
    v.add_argument("--groups", type=int, help="codebooks (default 4)")
    v.add_argument("--codebook-size", type=int, help="codes per codebook (default 512)")
    v.add_argument("--crop", type=int, help="side of the square crops, a multiple of the stride (default 128)")
    v.add_argument("--name", help="model name stored in the file (printable ASCII, ≤ 64 characters)")
    v.add_argument("--workers", type=int, default=2, help="data-loading processes per GPU (default 2; 0: none)")
    v.add_argument("--cache-mb", type=int, default=2048, help="decoded images kept per loading process (MB)")

    q = sub.add_parser("rvq", help="phase I, progressive: residual stages trained with quantiser dropout")
    common(q, data=False)
    q.add_argument("--data", required=True, action="append",
                   help="a folder of PNG/JPEG images or a list file (one image or folder per line); may be repeated")
    q.add_argument("--out", required=True, help="model file to write (safetensors)")
    q.add_argument("--stride", type=int, help="downsampling factor, a power of two (default 8)")
    q.add_argument("--width", type=int, help="channels of the hidden layers (default 64)")
    q.add_argument("--latent-channels", type=int, help="latent channels, a multiple of every stage's groups (default 64)")
    q.add_argument("--stages", help="groups × codes per stage, first stage first (default 1x512,2x512,4x512,4x512)")
    q.add_argument("--full-stages-probability", dest="full_probability", type=float,
                   help="quantiser dropout: probability that an example keeps all stages, else a count uniform "
                        "in 1…S (default 0.5)")
    q.add_argument("--init-from", help="start the transforms from this model file's (one-stage or progressive, "
                   "same stride and latent channels; a narrower width is widened so that the transforms compute "
                   "what the file's do); the stage codebooks start from the first batch")
    q.add_argument("--init-codebooks", action="store_true", default=None,
                   help="with --init-from a progressive model of the same stages: start the stage codebooks from "
                        "its codebooks")
    q.add_argument("--train", choices=["all", "transforms", "synthesis"], default=None,
                   help="what trains: the transforms and codebooks (all, default); the transforms with the codebooks "
                        "kept (transforms: every code keeps its meaning, so stage priors trained on its symbols "
                        "stay close); or the synthesis alone (synthesis: the analysis is kept too, so the symbols "
                        "do not change). Both need --init-from and --init-codebooks")
    q.add_argument("--rate-prior", help="add a rate term to the loss: the bits the stage priors of this file "
                   "(float, or a shipped file's integer ones) charge for the symbols, made differentiable by a soft "
                   "assignment to the codes (kept fixed; needs --rate-weight)")
    q.add_argument("--rate-weight", type=float, help="with --rate-prior: the loss is MSE (images in [0, 1]) + "
                   "commitment + this × the soft rate in bits per pixel")
    q.add_argument("--rate-temperature", type=float, help="with --rate-prior: the soft assignment's temperature, "
                   "relative to the batch's mean squared distance to the nearest code (default 0.1)")
    q.add_argument("--commitment", choices=["stages", "total"],
                   help="commitment loss: each used stage's residual to its code (stages, default) or the latent "
                        "to the decoded sum only (total)")
    q.add_argument("--crop", type=int, help="side of the square crops, a multiple of the stride (default 128)")
    q.add_argument("--name", help="model name stored in the file (printable ASCII, ≤ 64 characters)")
    q.add_argument("--hold-out-every", type=int,
                   help="hold out every n-th image of each folder, by sorted name (default 10; 0: none)")
    q.add_argument("--eval-crop", type=int, help="held-out images are evaluated on centred crops of at most this "
                                                 "side (default 256; 0: whole images)")
    q.add_argument("--evaluate-every", type=int, help="steps between held-out evaluations (default --checkpoint-every)")
    q.add_argument("--max-seconds", type=float, help="end the run (model and checkpoint saved) after this much wall "
                                                     "time in this session; --resume continues it")
    q.add_argument("--workers", type=int, default=2, help="data-loading processes per GPU (default 2; 0: none)")
    q.add_argument("--cache-mb", type=int, default=2048, help="decoded images kept per loading process (MB)")

    rp = sub.add_parser("rvq-prior", help="phase II, progressive: a stage-conditional PixelCNN prior per stage")
    common(rp, data=False)
    rp.add_argument("--data", required=True, action="append",
                    help="a folder of PNG/JPEG images or a list file, as for rvq; may be repeated")
    rp.add_argument("--model", required=True, help="model file written by train.py rvq")
    rp.add_argument("--out", help="model file to write (default: --model, replaced atomically)")
    rp.add_argument("--crop", type=int, help="side of the square crops in latent positions (default 16)")
    rp.add_argument("--embedding", type=int, help="embedding dimensions per group (default 16)")
    rp.add_argument("--channels", type=int, help="channels of each stack (default 64)")
    rp.add_argument("--blocks", type=int, help="gated blocks (default 4)")
    rp.add_argument("--kernel", type=int, help="kernel size of the gated blocks, odd (default 3)")
    rp.add_argument("--head", type=head_widths,
                    help="channels of the head's hidden layer: one width for every stage, or one per stage "
                         "separated by commas, e.g. 128,128,64,64 (default 128)")
    rp.add_argument("--hold-out-every", type=int,
                    help="hold out every n-th image of each folder, by sorted name (default 10; 0: none)")
    rp.add_argument("--evaluate-every", type=int, help="steps between held-out evaluations (default --checkpoint-every)")
    rp.add_argument("--max-seconds", type=float, help="end the run (files saved) after this much wall time")
    rp.add_argument("--init-from", help="start the stage priors from this model file's (same prior sizes and stages), "
                    "e.g. priors trained on the transforms this model's were trained from")
    rp.add_argument("--unconditioned", action="store_true", default=None,
                    help="no stage reads the earlier stages (a baseline measuring what the conditioning saves)")

    r = sub.add_parser("prior", help="phase II: the PixelCNN prior on the VQ-VAE's symbol maps")
    common(r)
    r.add_argument("--model", required=True, help="model file holding the trained VQ-VAE")
    r.add_argument("--out", help="model file to write (default: --model, replaced atomically)")
    r.add_argument("--crop", type=int, help="side of the square crops in latent positions (default 16)")
    r.add_argument("--embedding", type=int, help="embedding dimensions per group (default 16)")
    r.add_argument("--channels", type=int, help="channels of each stack (default 64)")
    r.add_argument("--blocks", type=int, help="gated blocks (default 4)")
    r.add_argument("--kernel", type=int, help="kernel size of the gated blocks, odd (default 3)")
    r.add_argument("--head", type=int, help="channels of the head's hidden layer (default 128)")
    r.add_argument("--hold-out-every", type=int, help="hold out every n-th image for evaluation (default 10; 0: none)")
    r.add_argument("--evaluate-every", type=int, help="steps between held-out evaluations (default --checkpoint-every)")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.checkpoint_every < 1 or args.log_every < 1:
        print("train.py: --checkpoint-every and --log-every must be at least 1", file=sys.stderr)
        return 64
    if args.threads:
        torch.set_num_threads(args.threads)
    dist_ = None
    try:
        check_output(args.out or args.model, args.data)
        dist_ = Distributed(args.device)
        if args.phase == "vqvae":
            return train_vqvae(args, dist_)
        if args.phase == "rvq":
            return train_rvq(args, dist_)
        if args.phase == "rvq-prior":
            return train_rvq_prior(args, dist_)
        return train_prior(args, dist_)
    except (Usage, ValueError, FileNotFoundError) as error:
        print(f"train.py {args.phase}: {error}", file=sys.stderr)
        return 64
    except KeyboardInterrupt:      # before the training loop took over SIGINT: nothing was written
        print(f"train.py {args.phase}: interrupted before training started", file=sys.stderr)
        return 130
    finally:
        if dist_:
            dist_.close()


if __name__ == "__main__":
    sys.exit(main())
