"""Tests of the PyTorch trainer, on CPU (seconds):

    python3 -m pytest Tools/train_torch -q

Shapes and names against a Swift-written model file, PixelCNN causality (exact, from gradients),
the EMA quantizer's rules, the schedule, the crops, and a 3-step run of both phases that writes
files the reference safetensors reader opens with the expected names. The progressive model:
residual stages, quantiser dropout, several data folders and the held-out split, resume
continuity, one-stage files still loading, and the stage-conditional prior's causality.
Without PyTorch the module is skipped with a message saying how to install it. That the Swift readers give
the same numbers is Tests/ParityTests (`swift test --filter ParityTests`).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed: pip install -r Tools/requirements.txt "
                                            "to run the trainer's tests")
pytest.importorskip("safetensors", reason="safetensors is not installed: pip install -r Tools/requirements.txt")
from PIL import Image  # noqa: E402
from safetensors import safe_open  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from train_torch import data as datasets  # noqa: E402
from train_torch import modelfile, train  # noqa: E402
from train_torch.model import (GDN, EMAQuantizer, PixelCNNPrior, PriorConfig, ProgressiveVQVAE,  # noqa: E402
                               ProgressivePrior, ResidualQuantizer, RVQConfig, StageConditionalPrior,
                               StagePriorConfig, VQVAE, VQVAEConfig, perplexity, soft_stage_bits, stage_counts,
                               warm_start_stage_priors, widen_transforms)

ROOT = Path(__file__).resolve().parent.parent.parent
SHIPPED_CONFIG = '{"codebookSize":512,"groups":4,"latentChannels":64,"stride":8,"width":64}'


def _shipped_model() -> Path:
    """A Swift-trained stride-8, width-64, 4 × 512 model with a prior, wherever Models/ keeps it
    (its file name has changed as the shipped set was reorganised)."""
    candidates = [ROOT / "Models" / "vq-s8-w64-g4k512.safetensors"] + sorted((ROOT / "Models").rglob("*.safetensors"))
    for path in candidates:
        if path.is_file():
            with safe_open(str(path), framework="pt") as f:
                metadata = f.metadata() or {}
            if metadata.get("vqvae.config") == SHIPPED_CONFIG and "prior.config" in metadata:
                return path
    pytest.skip(f"no model file under {ROOT / 'Models'} has vqvae.config {SHIPPED_CONFIG} and a prior")


PHOTO = ROOT / "Fixtures" / "images" / "photo-64x48.png"


def shapes(path):
    with safe_open(str(path), framework="pt") as f:
        return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}, dict(f.metadata() or {})


# ---------------------------------------------------------------------------------------------
# Names and shapes


def test_names_and_shapes_equal_those_of_a_swift_trained_model_file():
    swift, metadata = shapes(_shipped_model())
    vqvae = VQVAE(VQVAEConfig(stride=8, width=64, latentChannels=64, groups=4, codebookSize=512))
    prior = PixelCNNPrior(PriorConfig(groups=4, codebookSize=512, embeddingDimension=16, channels=64, blocks=4,
                                      kernelSize=3, headChannels=128))
    ours = {k: list(v.shape) for k, v in modelfile.vqvae_tensors(vqvae).items()}
    ours.update({k: list(v.shape) for k, v in modelfile.prior_tensors(prior).items()})
    theirs = {k: v for k, v in swift.items() if not k.startswith("prior_int.")}
    assert ours == theirs
    assert metadata["vqvae.config"] == vqvae.config.json()
    assert metadata["prior.config"] == prior.config.json()


@pytest.mark.parametrize("stride", [2, 8, 16])
def test_transforms_map_images_to_latents_and_back(stride):
    config = VQVAEConfig(stride=stride, width=8, latentChannels=8, groups=2, codebookSize=4)
    model = VQVAE(config)
    x = torch.rand(2, 3, 4 * stride, 3 * stride)
    latent = model.analysis(x)
    assert latent.shape == (2, 8, 4, 3)
    assert model.synthesis(latent).shape == x.shape
    # GDN count: one per downsampling in the analysis, one per upsampling but the last in the synthesis.
    assert sum(isinstance(m, GDN) for m in model.analysis) == stride.bit_length() - 1
    assert sum(isinstance(m, GDN) for m in model.synthesis) == stride.bit_length() - 1


def test_a_swift_trained_model_loads_and_codes_an_image():
    model, tensors, metadata = modelfile.load_vqvae(str(_shipped_model()))
    prior = modelfile.load_prior(tensors, metadata)
    image = datasets.padded_image(datasets.load_rgb(str(PHOTO)), 8)
    symbols = model.encode(image)
    assert symbols.shape == (1, 4, 6, 8)
    mse = torch.mean((model.decode(symbols).clamp(0, 1) - image) ** 2).item()
    assert 10 * math.log10(1 / mse) > 15          # trained, not noise (vqcodec encode --psnr: 19.38 dB)
    bits = prior.cross_entropy(prior(symbols), symbols).item() / math.log(2)
    assert bits < 8.5                             # well below log2(512) = 9 bits per symbol


# ---------------------------------------------------------------------------------------------
# PixelCNN causality: logits of (r, c, g) depend exactly on positions before (r, c) in raster
# order within the receptive field, and on groups < g of (r, c) itself.


def dependence(prior: PixelCNNPrior, height: int, width: int) -> np.ndarray:
    """[target r, c, g, source r, c, g] booleans: whether the target's logits have a non-zero
    gradient with respect to the source's embedding (exact: masked paths are exact zeros). Large
    positive biases before the ReLUs keep every unit active, so no path is cut by a dead ReLU."""
    cfg = prior.config
    g, k, e = cfg.groups, cfg.codebookSize, cfg.embeddingDimension
    prior = prior.double()
    with torch.no_grad():
        for block in prior.blocks():
            block.output.bias.fill_(10)
        prior.head.hidden.bias.fill_(1000)
    symbols = torch.randint(k, (1, g, height, width), generator=torch.Generator().manual_seed(3))
    x = prior.embedding(symbols).detach().requires_grad_()
    logits = prior.network(x)
    out = np.zeros((height, width, g, height, width, g), dtype=bool)
    for r in range(height):
        for c in range(width):
            for group in range(g):
                (grad,) = torch.autograd.grad(logits[0, group * k:(group + 1) * k, r, c].sum(), x, retain_graph=True)
                out[r, c, group] = (grad[0].reshape(g, e, height, width).abs().sum(1) > 0).permute(1, 2, 0).numpy()
    return out


@pytest.mark.parametrize("blocks,kernel", [(1, 3), (3, 3), (2, 5)])
def test_prior_sees_exactly_its_causal_receptive_field(blocks, kernel):
    torch.manual_seed(blocks * 10 + kernel)
    prior = PixelCNNPrior(PriorConfig(groups=3, codebookSize=5, embeddingDimension=2, channels=6, blocks=blocks,
                                      kernelSize=kernel, headChannels=6))
    h_, w_ = 6, 8
    depends = dependence(prior, h_, w_)
    reach = blocks * (kernel // 2)
    for r in range(h_):
        for c in range(w_):
            for g in range(3):
                for rr in range(h_):
                    for cc in range(w_):
                        for gg in range(3):
                            expected = ((r - reach <= rr < r and abs(cc - c) <= reach)
                                        or (rr == r and c - reach <= cc < c)
                                        or (rr == r and cc == c and gg < g))
                            assert depends[r, c, g, rr, cc, gg] == expected, (r, c, g, rr, cc, gg)


def test_prior_export_zeroes_masked_weights_without_changing_the_logits():
    torch.manual_seed(5)
    prior = PixelCNNPrior(PriorConfig(groups=2, codebookSize=6, embeddingDimension=3, channels=4, blocks=2,
                                      kernelSize=3, headChannels=4))
    symbols = torch.randint(6, (2, 2, 4, 5))
    before = prior(symbols)
    zeroed = prior.export_state(zero_masked=True)
    raw = prior.export_state(zero_masked=False)
    assert (zeroed["block0.horizontal.weight"] != raw["block0.horizontal.weight"]).any()
    assert (zeroed["head.logits.weight"] == 0).sum() > 0
    other = PixelCNNPrior(prior.config)
    other.load_state_dict(zeroed)
    assert torch.allclose(other(symbols), before, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Quantizer, GDN bounds, schedule


def test_nearest_code_breaks_ties_to_the_lowest_index_and_lookup_inverts_layout():
    q = EMAQuantizer(groups=2, codebook_size=3, dimension=2)
    q.codebook.copy_(torch.tensor([[[1., 0.], [1., 0.], [0., 1.]], [[0., 0.], [5., 5.], [-1., -1.]]]))
    latent = torch.zeros(1, 4, 1, 2)                       # group g is channels 2g, 2g + 1
    latent[0, 0:2, 0, 0], latent[0, 0:2, 0, 1] = torch.tensor([1., 0.]), torch.tensor([0., 1.])
    latent[0, 2:4, 0, 0], latent[0, 2:4, 0, 1] = torch.tensor([4., 4.]), torch.tensor([-1., -2.])
    symbols = q.symbols(latent)
    assert symbols.tolist() == [[[[0, 2]], [[1, 2]]]]      # codes 0 and 1 tie: the lower wins
    expected = torch.zeros(1, 4, 1, 2)
    expected[0, 0:2, 0, 0], expected[0, 0:2, 0, 1] = q.codebook[0, 0], q.codebook[0, 2]
    expected[0, 2:4, 0, 0], expected[0, 2:4, 0, 1] = q.codebook[1, 1], q.codebook[1, 2]
    assert torch.equal(q.lookup(symbols), expected)


def test_ema_update_follows_the_swift_formula():
    torch.manual_seed(0)
    q = EMAQuantizer(groups=1, codebook_size=2, dimension=2, decay=0.9, dead_code_threshold=0.0, restart_patience=0)
    q.codebook.copy_(torch.tensor([[[0., 0.], [10., 10.]]]))
    q.cluster_size.fill_(1)
    q.cluster_sum.copy_(q.codebook)
    vectors = torch.tensor([[[1., 1.], [3., 1.], [9., 9.]]])
    symbols = torch.tensor([[0, 0, 1]])
    q.update(vectors, symbols, torch.Generator())
    size = torch.tensor([0.9 * 1 + 0.1 * 2, 0.9 * 1 + 0.1 * 1])
    total, eps = size.sum(), 1e-5
    smoothed = (size + eps) / (total + 2 * eps) * total
    sums = torch.tensor([[0.9 * 0 + 0.1 * 4, 0.9 * 0 + 0.1 * 2], [0.9 * 10 + 0.1 * 9, 0.9 * 10 + 0.1 * 9]])
    assert torch.allclose(q.cluster_size[0], size)
    assert torch.allclose(q.codebook[0], sums / smoothed[:, None])


def test_codes_unused_for_the_patience_are_restarted_on_encoder_outputs():
    q = EMAQuantizer(groups=1, codebook_size=4, dimension=2, restart_patience=20, dead_code_threshold=0.0)
    generator = torch.Generator().manual_seed(1)
    vectors = torch.randn(1, 64, 2, generator=generator) * 0.01 + 5     # all near (5, 5)
    q.initialise(vectors, generator)
    assert bool(q.initialised) and torch.all(q.cluster_size == 1)
    q.codebook[0, 3] = torch.tensor([-100., -100.])                      # far away: never chosen
    q.cluster_sum[0, 3] = q.codebook[0, 3]
    for step in range(19):
        q.update(vectors, q.nearest(vectors), generator)
    assert q.steps_unused[0, 3] == 19 and q.codebook[0, 3, 0] < -50
    q.update(vectors, q.nearest(vectors), generator)                     # the 20th step restarts it
    assert q.steps_unused[0, 3] == 0 and q.cluster_size[0, 3] == 1
    assert torch.allclose(q.codebook[0, 3], torch.tensor([5., 5.]), atol=0.1)


def test_codes_whose_ema_count_falls_below_the_threshold_are_restarted():
    q = EMAQuantizer(groups=1, codebook_size=2, dimension=1, decay=0.5, dead_code_threshold=0.1, restart_patience=0)
    q.codebook.copy_(torch.tensor([[[0.], [100.]]]))
    q.cluster_size.fill_(1)
    q.cluster_sum.copy_(q.codebook)
    vectors = torch.tensor([[[0.5], [1.0]]])
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):                                   # 0.5³ = 0.125 ≥ 0.1: alive
        q.update(vectors, torch.tensor([[0, 0]]), generator)
    assert q.codebook[0, 1, 0] > 50
    q.update(vectors, torch.tensor([[0, 0]]), generator)  # 0.0625 < 0.1: restarted onto a data vector
    assert q.codebook[0, 1, 0] in (0.5, 1.0)


def test_straight_through_gradient_and_commitment():
    torch.manual_seed(2)
    q = EMAQuantizer(groups=1, codebook_size=3, dimension=2)
    q.eval()
    q.codebook.copy_(torch.randn(1, 3, 2))
    latent = torch.randn(1, 2, 2, 2, requires_grad=True)
    quantized, commitment, _, _ = q(latent)
    (quantized.sum() + commitment).backward()
    lhat = q.lookup(q.symbols(latent.detach()))
    expected = 1 + 2 * 0.25 * (latent.detach() - lhat) / latent.numel()
    assert torch.allclose(latent.grad, expected)


def test_gdn_bounds_and_their_gradient_rule():
    gdn = GDN(2)
    with torch.no_grad():
        gdn.beta.copy_(torch.tensor([-1.0, 2.0]))
        gdn.gamma.copy_(torch.tensor([[0.1, -0.5], [0.0, 0.1]]))
    x = torch.tensor([[[[1.0]], [[2.0]]]])
    y = gdn(x)
    expected = torch.tensor([1.0 / math.sqrt(1e-6 + 0.1), 2.0 / math.sqrt(2.0 + 0.4)])
    assert torch.allclose(y.flatten(), expected, rtol=1e-5)
    # Below its bound, a value's gradient passes when descent moves it up (negative gradient)…
    y.sum().backward()
    assert gdn.gamma.grad[0, 1] < 0 and gdn.beta.grad[0] < 0
    # …and is 0 when descent would push it further down; values above their bounds always get theirs.
    gdn.zero_grad()
    (-gdn(x).sum()).backward()
    assert gdn.gamma.grad[0, 1] == 0 and gdn.beta.grad[0] == 0
    assert gdn.gamma.grad[0, 0] > 0 and gdn.beta.grad[1] > 0


def test_schedule_warms_up_then_decays_by_half_a_cosine_to_a_tenth():
    lr = [train.learning_rate(s, 1e-3, 10, 110) for s in range(120)]
    assert lr[0] == pytest.approx(1e-4) and lr[9] == pytest.approx(1e-3)
    assert lr[60] == pytest.approx(1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr[110] == pytest.approx(1e-4) and lr[119] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(lr[9:], lr[10:]))


def test_perplexity_of_uniform_and_single_code_use():
    assert perplexity(torch.tensor([[5., 5., 5., 5.], [0., 9., 0., 0.]])) == pytest.approx([4.0, 1.0])


# ---------------------------------------------------------------------------------------------
# Data


def test_crops_flip_and_extend_small_images_by_their_edges():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)       # 2 × 3 RGB
    crop = datasets.crop_image(image, top=-1, left=0, crop=4, flip=False)
    assert crop.shape == (3, 4, 4)
    assert list(crop[0, 0]) == [0, 3, 6, 6] and list(crop[0, 3]) == [9, 12, 15, 15]
    flipped = datasets.crop_image(image, top=-1, left=0, crop=4, flip=True)
    assert np.array_equal(flipped, crop[:, :, ::-1])
    rng = np.random.default_rng(0)
    offsets = {datasets.crop_offset(10, 4, rng) for _ in range(200)}
    assert offsets == set(range(7))
    assert {datasets.crop_offset(2, 4, rng) for _ in range(200)} == {0, -1, -2}


def test_batches_are_a_function_of_seed_rank_and_step(tmp_path):
    folder = make_data(tmp_path)
    paths = datasets.list_images(str(folder))
    assert [os.path.basename(p) for p in paths] == ["a.png", "b.jpg"]
    one = datasets.ImageCropBatches(paths, 16, 3, seed=4, rank=0)
    two = datasets.ImageCropBatches(paths, 16, 3, seed=4, rank=0)
    assert torch.equal(one[7], two[7]) and not torch.equal(one[7], one[8])
    assert not torch.equal(one[7], datasets.ImageCropBatches(paths, 16, 3, seed=4, rank=1)[7])
    assert one[0].dtype == torch.uint8 and one[0].shape == (3, 3, 16, 16)


def test_padded_image_repeats_the_last_row_and_column():
    image = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)
    padded = datasets.padded_image(image, 4)
    assert padded.shape == (1, 3, 4, 8)
    assert torch.equal(padded[0, :, 3], padded[0, :, 2]) and torch.equal(padded[0, :, :, 7], padded[0, :, :, 4])
    assert datasets.held_out(9, 10, 50) and not datasets.held_out(8, 10, 50) and not datasets.held_out(0, 1, 1)


# ---------------------------------------------------------------------------------------------
# A 3-step run of both phases


def make_data(tmp_path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(PHOTO, folder / "a.png")
    Image.open(PHOTO).convert("L").save(folder / "b.jpg", quality=90)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_three_step_runs_write_model_files_with_the_expected_names(tmp_path, capsys):
    folder = make_data(tmp_path)
    out, prior_out = tmp_path / "m.safetensors", tmp_path / "p.safetensors"
    common = ["--steps", "3", "--batch", "2", "--log-every", "1", "--threads", "1", "--device", "cpu"]
    assert train.main(["vqvae", "--data", str(folder), "--out", str(out), "--stride", "8", "--width", "8",
                       "--latent-channels", "8", "--groups", "2", "--codebook-size", "16", "--crop", "32",
                       "--workers", "0", "--name", "smoke", *common]) == 0
    names, metadata = shapes(out)
    expected = {f"analysis.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")}
    expected |= {f"analysis.{i}.{p}" for i in (1, 3, 5) for p in ("beta", "gamma")} | {"analysis.6.weight", "analysis.6.bias"}
    expected |= {f"synthesis.{i}.{p}" for i in (0, 2, 5, 8) for p in ("weight", "bias")}   # 3, 6, 9: PixelShuffle
    expected |= {f"synthesis.{i}.{p}" for i in (1, 4, 7) for p in ("beta", "gamma")}
    expected |= {"quantizer.codebook"}
    assert set(names) == expected
    assert names["quantizer.codebook"] == [2, 16, 4] and names["synthesis.8.weight"] == [12, 8, 3, 3]
    assert metadata["vqvae.config"] == '{"codebookSize":16,"groups":2,"latentChannels":8,"stride":8,"width":8}'
    assert metadata["name"] == "smoke"
    assert '"steps":3' in metadata["vqvae.recipe"] and "psnr" in metadata["vqvae.metrics"]
    printed = capsys.readouterr().out
    assert "step 3/3" in printed and "psnr" in printed and "codes" in printed

    # A checkpoint exists: a fresh start is refused, --resume extends the run.
    assert train.main(["vqvae", "--data", str(folder), "--out", str(out), *common]) == 64
    assert train.main(["vqvae", "--data", str(folder), "--out", str(out), "--resume", "--steps", "4", "--log-every",
                       "1", "--threads", "1", "--device", "cpu"]) == 0
    assert '"steps":4' in shapes(out)[1]["vqvae.recipe"]

    assert train.main(["prior", "--model", str(out), "--data", str(folder), "--out", str(prior_out), "--crop", "4",
                       "--channels", "4", "--blocks", "2", "--embedding", "2", "--head", "4", "--hold-out-every", "2",
                       "--half", *common]) == 0
    names, metadata = shapes(prior_out)
    prior_names = {k for k in names if k.startswith("prior.")}
    assert prior_names == {"prior." + k for k in PixelCNNPrior(PriorConfig(2, 16, 2, 4, 2, 3, 4)).state_dict()}
    assert not any(k.startswith("prior_int.") for k in names)
    assert metadata["prior.config"] == ('{"blocks":2,"channels":4,"codebookSize":16,"embeddingDimension":2,'
                                        '"groups":2,"headChannels":4,"kernelSize":3}')
    assert "heldOutBitsPerSymbol" in metadata["prior.metrics"] and metadata["name"] == "smoke"
    with safe_open(str(prior_out), framework="pt") as f:
        assert f.get_tensor("prior.embedding.weight").dtype == torch.float16
        assert f.get_tensor("quantizer.codebook").dtype == torch.float32


def test_output_over_an_input_is_refused(tmp_path):
    path = tmp_path / "x.safetensors"
    modelfile.write_atomically({"a": torch.zeros(1)}, {}, str(path))
    with pytest.raises(ValueError, match="refusing"):
        modelfile.write_atomically({"a": torch.ones(1)}, {}, str(path), protect=(str(path),))
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# DDP: the quantizer keeps one codebook across processes


def _ddp_worker(rank: int, world: int, init: str, results):
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.manual_seed(0)
    q = EMAQuantizer(groups=2, codebook_size=8, dimension=3, restart_patience=3)
    generator = torch.Generator().manual_seed(100 + rank)      # deliberately different per process
    for step in range(8):
        vectors = torch.randn(2, 16, 3, generator=generator) + rank   # each process sees other data
        if step == 0:
            q.initialise(vectors, generator)
        q.update(vectors, q.nearest(vectors), generator)
    results[rank] = (q.codebook.clone(), q.cluster_size.clone(), q.steps_unused.clone())
    dist.destroy_process_group()


def test_ddp_processes_keep_identical_codebooks(tmp_path):
    import torch.multiprocessing as mp
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(_ddp_worker, args=(2, f"file://{tmp_path}/rendezvous", results), nprocs=2, join=True)
    (book0, size0, unused0), (book1, size1, unused1) = results[0], results[1]
    assert torch.equal(book0, book1) and torch.equal(size0, size1) and torch.equal(unused0, unused1)
    # The counts are of both processes' vectors: the EMA total goes from 8 towards 32 per step
    # (8·0.99⁸ + 32·(1 − 0.99⁸) ≈ 9.85 after 8 steps), not towards one process's 16 (≈ 8.62).
    assert torch.all(size0.sum(1) > 9.5)


# ---------------------------------------------------------------------------------------------
# Progressive model: residual stages, quantiser dropout, data from several folders, resume


def trained_residual_quantizer(stages=((1, 8), (2, 8), (4, 8)), dimension=8, steps=5):
    """A residual quantizer whose codebooks were initialised and updated on `vectors`."""
    torch.manual_seed(0)
    q = ResidualQuantizer(RVQConfig(stride=2, width=4, latentChannels=dimension, stages=stages))
    latent = torch.randn(4, dimension, 6, 6)
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        q(latent, torch.full((4,), len(stages)), generator)
    q.eval()
    return q, latent


def test_each_stage_quantizes_the_residual_of_the_stages_before_it():
    q, latent = trained_residual_quantizer()
    symbols, parts = q.quantize(latent)
    residual = latent
    for k, stage in enumerate(q.stages()):
        assert torch.equal(symbols[k], stage.symbols(residual))              # stage k's input is r_k
        assert torch.equal(parts[k], stage.lookup(symbols[k]))
        residual = residual - parts[k]
    errors = [torch.mean((latent - q.lookup(symbols[:n])) ** 2).item() for n in range(1, 4)]
    assert errors[0] > errors[1] > errors[2]                                  # more stages, finer latent
    assert torch.allclose(q.lookup(symbols), latent - residual, atol=1e-6)


def test_quantizer_dropout_draws_per_example_stage_counts():
    generator = torch.Generator().manual_seed(3)
    counts = stage_counts(20_000, 4, 0.5, generator)
    assert counts.min() == 1 and counts.max() == 4 and counts.dtype == torch.int64
    fractions = [(counts == n).float().mean().item() for n in (1, 2, 3, 4)]
    assert fractions[:3] == pytest.approx([0.125] * 3, abs=0.01) and fractions[3] == pytest.approx(0.625, abs=0.01)
    assert torch.all(stage_counts(50, 3, 1.0, generator) == 3)
    assert set(stage_counts(2000, 3, 0.0, generator).tolist()) == {1, 2, 3}
    # A function of the generator's seed (resumed runs draw the same).
    one, two = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert torch.equal(stage_counts(16, 4, 0.5, one), stage_counts(16, 4, 0.5, two))


def test_an_example_with_n_stages_uses_only_stages_up_to_n():
    q, latent = trained_residual_quantizer()
    symbols, parts = q.quantize(latent)
    q.train()
    counts = torch.tensor([1, 2, 3, 1])
    x = latent.clone().requires_grad_()
    quantized, commitment, train_symbols, _ = q(x, counts, torch.Generator().manual_seed(0))
    # (The forward pass also updated the codebooks, after quantising with the old ones.)
    for i, n in enumerate(counts.tolist()):
        expected = sum(parts[k][i] for k in range(n))
        assert torch.allclose(quantized[i], expected, atol=1e-6), i
    for k in range(3):
        assert torch.equal(train_symbols[k], symbols[k])
    # Straight through: the gradient of the latent is the gradient of the quantized latent.
    weights = torch.randn_like(quantized)
    (grad,) = torch.autograd.grad((quantized * weights).sum(), x, retain_graph=True)
    assert torch.allclose(grad, weights)
    # Commitment: stage k's term averages over the examples that use stage k only.
    residuals = [latent]
    for k in range(2):
        residuals.append(residuals[-1] - parts[k])
    expected = 0.0
    for k in range(3):
        use = counts > k
        err = ((residuals[k] - parts[k]) ** 2).mean(dim=(1, 2, 3))
        expected += 0.25 * (err * use).sum() / use.sum()
    assert commitment.item() == pytest.approx(float(expected), rel=1e-5)


def test_commitment_to_the_decoded_sum_only():
    q, latent = trained_residual_quantizer()
    _, parts = q.quantize(latent)
    q.commitment_target = "total"
    q.train()
    counts = torch.tensor([1, 3, 2, 3])
    quantized, commitment, _, _ = q(latent, counts, torch.Generator().manual_seed(0))
    decoded = torch.stack([sum(parts[k][i] for k in range(n)) for i, n in enumerate(counts.tolist())])
    assert torch.allclose(quantized, decoded, atol=1e-6)
    assert commitment.item() == pytest.approx(0.25 * torch.mean((latent - decoded) ** 2).item(), rel=1e-5)
    with pytest.raises(ValueError, match="commitment target"):
        ResidualQuantizer(q.config, commitment_target="last")


def test_progressive_model_decodes_every_prefix_of_its_stages():
    torch.manual_seed(1)
    model = ProgressiveVQVAE(RVQConfig(stride=4, width=8, latentChannels=8, stages=((1, 4), (2, 4))))
    images = torch.rand(2, 3, 16, 12)
    model(images, torch.tensor([1, 2]), torch.Generator().manual_seed(0))    # initialises the codebooks
    model.eval()
    symbols = model.encode(images)
    assert [list(s.shape) for s in symbols] == [[2, 1, 4, 3], [2, 2, 4, 3]]
    assert model.decode(symbols[:1]).shape == images.shape == model.decode(symbols).shape
    config = RVQConfig(stride=8, width=64, latentChannels=64, stages=[[1, 512], [2, 512]])
    assert config.json() == '{"latentChannels":64,"stages":[[1,512],[2,512]],"stride":8,"width":64}'
    assert config.bits_per_position(2) == pytest.approx(27.0)
    assert "stage 2" in RVQConfig(stages=((1, 512), (3, 512))).problem()


def test_several_folders_and_list_files_with_every_nth_image_of_each_folder_held_out(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    image = Image.open(PHOTO)
    for i in range(5):
        image.save(first / f"{i:03d}.png")
    for name in ("c.png", "a.png", "b.jpg"):
        image.convert("RGB").save(second / name)
    groups = datasets.list_sources([str(first), str(second)])
    assert [[os.path.basename(p) for p in g] for g in groups] == [
        ["000.png", "001.png", "002.png", "003.png", "004.png"], ["a.png", "b.jpg", "c.png"]]
    training, held = datasets.split_held_out(groups, 2)
    assert [os.path.basename(p) for p in held] == ["001.png", "003.png", "b.jpg"]
    assert len(training) == 5
    # A list file: folders and images relative to it, comments ignored, duplicates kept once.
    listing = tmp_path / "list.txt"
    listing.write_text("# training images\nfirst\n\nsecond/c.png\nfirst/000.png\n")
    groups = datasets.list_sources([str(listing)])
    assert [[os.path.basename(p) for p in g] for g in groups] == [
        ["000.png", "001.png", "002.png", "003.png", "004.png"], ["c.png"]]
    with pytest.raises(FileNotFoundError, match="neither"):
        listing.write_text("missing.png\n")
        datasets.list_sources([str(listing)])
    # Centre crops for evaluation: at most the side, multiples of the stride, centred.
    crop = datasets.centre_crop(np.zeros((30, 50, 3), dtype=np.uint8), 16, 8)
    assert crop.shape == (1, 3, 16, 16)
    assert datasets.centre_crop(np.zeros((30, 50, 3), dtype=np.uint8), 0, 8).shape == (1, 3, 32, 56)


def make_two_folders(tmp_path):
    """The data of `make_data` and a second folder of three copies of the photo (what rvq_command reads)."""
    folder = make_data(tmp_path)
    second = tmp_path / "second"
    second.mkdir()
    for i in range(3):
        Image.open(PHOTO).save(second / f"{i}.png")
    return folder, second


def stop_after(monkeypatch, last: int):
    """Makes a run stop after step `last` as SIGTERM would; returns the original reporter."""
    report = train.Progress.report

    def stopping(self, step, text, row):
        report(self, step, text, row)
        if step == last:
            train.STOP["requested"] = 1
    monkeypatch.setattr(train.Progress, "report", stopping)
    return report


def rvq_command(folder, out, steps, *extra):
    return ["rvq", "--data", str(folder), "--data", str(folder.parent / "second"), "--out", str(out),
            "--stride", "8", "--width", "8", "--latent-channels", "8", "--stages", "1x16,2x16", "--crop", "32",
            "--batch", "2", "--steps", str(steps), "--warmup", "1", "--log-every", "1", "--threads", "1",
            "--device", "cpu", "--workers", "0", "--hold-out-every", "2", "--eval-crop", "32", "--seed", "5", *extra]


def tiny_prior_command(model, folder, second, out, steps, *extra):
    """A stage-prior run of a few steps on the tiny progressive model `model`."""
    return ["rvq-prior", "--model", str(model), "--data", str(folder), "--data", str(second), "--out", str(out),
            "--steps", str(steps), "--batch", "2", "--crop", "4", "--channels", "4", "--blocks", "1", "--embedding",
            "2", "--head", "4", "--hold-out-every", "2", "--threads", "1", "--device", "cpu", *extra]


def test_progressive_run_writes_stage_codebooks_and_resumes_where_it_stopped(tmp_path, monkeypatch, capsys):
    folder, second = make_two_folders(tmp_path)
    straight, resumed = tmp_path / "straight.safetensors", tmp_path / "resumed.safetensors"
    assert train.main(rvq_command(folder, straight, 4, "--evaluate-every", "2", "--amp")) == 0
    printed = capsys.readouterr().out
    assert "held-out PSNR by stages" in printed and "training in float32" in printed or "bf16 autocast on" in printed
    names, metadata = shapes(straight)
    assert names["quantizer.stage1.codebook"] == [1, 16, 8] and names["quantizer.stage2.codebook"] == [2, 16, 4]
    assert not any(k.startswith("quantizer.") and "codebook" not in k for k in names)
    assert "vqvae.config" not in metadata
    assert metadata["rvq.config"] == '{"latentChannels":8,"stages":[[1,16],[2,16]],"stride":8,"width":8}'
    metrics = __import__("json").loads(metadata["rvq.metrics"])
    assert len(metrics["heldOutPsnrByStages"]) == 2 and metrics["heldOutImages"] == 2
    assert '"steps":4' in metadata["rvq.recipe"] and '"holdOutEvery":2' in metadata["rvq.recipe"]
    model, _, _ = modelfile.load_rvq(str(straight))
    assert len(model.encode(torch.rand(1, 3, 16, 16))) == 2
    with pytest.raises(ValueError, match="no VQ-VAE"):
        modelfile.load_vqvae(str(straight))

    # Stopped after step 2 (as by SIGTERM), then resumed: the same weights as the straight run. Both
    # take --amp: on a CPU with bf16 it trains in bf16 autocast, whose rounding differs from float32.
    report = stop_after(monkeypatch, 2)
    assert train.main(rvq_command(folder, resumed, 4, "--evaluate-every", "2", "--amp")) == 130
    monkeypatch.setattr(train.Progress, "report", report)
    assert '"steps":2' in shapes(resumed)[1]["rvq.recipe"]
    assert train.main(rvq_command(folder, resumed, 4, "--evaluate-every", "2")) == 64     # checkpoint exists
    assert train.main(rvq_command(folder, resumed, 4, "--resume", "--stages", "1x16")) == 64
    monkeypatch.setattr(sys, "argv", ["train.py", "rvq", "--resume", "(the resuming command)"])
    assert train.main(rvq_command(folder, resumed, 4, "--evaluate-every", "2", "--resume")) == 0
    recipe = json.loads(shapes(resumed)[1]["rvq.recipe"])
    assert recipe["resumedWith"] == ["train.py rvq --resume (the resuming command)"] and recipe["steps"] == 4
    assert "resumedWith" not in json.loads(shapes(straight)[1]["rvq.recipe"])
    a, _ = modelfile.read(str(straight))
    b, _ = modelfile.read(str(resumed))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_a_one_stage_model_file_loads_as_before_and_is_not_taken_for_a_progressive_one(tmp_path):
    model = VQVAE(VQVAEConfig(stride=8, width=8, latentChannels=8, groups=2, codebookSize=16))
    path = tmp_path / "one.safetensors"
    modelfile.write_atomically(modelfile.vqvae_tensors(model), {"vqvae.config": model.config.json(), "name": "one"},
                               str(path))
    loaded, _, _ = modelfile.load_vqvae(str(path))
    assert loaded.config == model.config
    assert torch.equal(loaded.quantizer.codebook, model.quantizer.codebook)
    with pytest.raises(ValueError, match="no progressive model"):
        modelfile.load_rvq(str(path))


def test_amp_falls_back_to_float32_without_native_bf16():
    supported, note = train.bf16_support(torch.device("cpu"))
    with open("/proc/cpuinfo") as f:
        native = any(flag in f.read() for flag in ("avx512_bf16", "amx_bf16"))
    assert supported == native
    assert ("float32" in note) != native


# ---------------------------------------------------------------------------------------------
# Stage-conditional prior


def tiny_progressive_prior(stages=((2, 5), (2, 5), (3, 5)), dimension=6):
    torch.manual_seed(7)
    q, _ = trained_residual_quantizer(stages, dimension, steps=2)
    prior = ProgressivePrior([StagePriorConfig(g, k, 2, 6, 2, 3, 6, 0 if i == 0 else dimension)
                              for i, (g, k) in enumerate(stages)]).double()
    with torch.no_grad():                       # keep every unit active, so no path is cut by a dead ReLU
        for p in prior.stages():
            for block in p.blocks():
                block.output.bias.fill_(3)
            p.head.hidden.bias.fill_(100)
    return q.double(), prior


def stage_logits(q, prior, symbols):
    conditions, running = [None], None
    for k in range(len(symbols) - 1):
        part = q.stages()[k].lookup(symbols[k])
        running = part if running is None else running + part
        conditions.append(running)
    return [p(s, c) for p, s, c in zip(prior.stages(), symbols, conditions)]


def test_stage_prior_is_causal_within_its_stage_and_blind_to_later_stages():
    q, prior = tiny_progressive_prior()
    h, w = 4, 5
    generator = torch.Generator().manual_seed(2)
    symbols = [torch.randint(5, (1, g, h, w), generator=generator) for g, _ in q.config.stages]
    base = stage_logits(q, prior, symbols)
    k = 1                                                    # stage 2 (0-based 1), conditioned on stage 1
    groups, codes = q.config.stages[k]
    for r in range(h):
        for c in range(w):
            for g in range(groups):
                changed = [s.clone() for s in symbols]
                changed[k][0, g, r, c] = (changed[k][0, g, r, c] + 1) % codes
                changed[k + 1] = torch.randint(5, changed[k + 1].shape, generator=generator)   # all of stage 3
                logits = stage_logits(q, prior, changed)[k].reshape(1, groups, codes, h, w)
                before = base[k].reshape(1, groups, codes, h, w)
                for rr in range(h):
                    for cc in range(w):
                        for gg in range(groups):
                            earlier = (rr, cc) < (r, c) or ((rr, cc) == (r, c) and gg <= g)
                            if earlier:
                                assert torch.equal(logits[0, gg, :, rr, cc], before[0, gg, :, rr, cc]), (r, c, g, rr, cc, gg)
                # …and the next position in raster order does see it (the masks are not over-tight).
                if c + 1 < w:
                    assert not torch.equal(logits[0, :, :, r, c + 1], before[0, :, :, r, c + 1])


def test_stage_prior_reads_the_earlier_stages_everywhere_and_stage_one_reads_none():
    q, prior = tiny_progressive_prior()
    generator = torch.Generator().manual_seed(4)
    symbols = [torch.randint(5, (1, g, 4, 5), generator=generator) for g, _ in q.config.stages]
    base = stage_logits(q, prior, symbols)
    changed = [s.clone() for s in symbols]
    changed[0][0, :, 1, 1] = (changed[0][0, :, 1, 1] + 1) % 5          # stage 1, a later position…
    after = stage_logits(q, prior, changed)
    assert not torch.equal(after[1][..., 0, 0], base[1][..., 0, 0])     # …seen by stage 2 at (0, 0): unmasked
    assert not torch.equal(after[2][..., 0, 0], base[2][..., 0, 0])     # and by stage 3
    assert torch.equal(after[0][..., 0, 0], base[0][..., 0, 0])         # stage 1 itself: causal as ever
    # Stage 1 has no conditioning weights and ignores any condition it is given.
    first = prior.stages()[0]
    assert isinstance(first, StageConditionalPrior) and not any("condition" in k for k in first.state_dict())
    assert torch.equal(first(symbols[0], torch.randn(1, 6, 4, 5, dtype=torch.float64)), first(symbols[0]))
    plain = PixelCNNPrior(first.config).double()
    plain.load_state_dict(first.state_dict())
    assert torch.equal(plain(symbols[0]), first(symbols[0]))
    with pytest.raises(ValueError, match="decoded latent"):
        prior.stages()[1](symbols[1])
    names = prior.export_state().keys()
    assert "stage2.condition0.vertical.weight" in names and "stage1.block0.vertical.weight" in names


def test_stage_prior_run_writes_conditioned_priors_beside_the_progressive_model(tmp_path):
    folder, second = make_two_folders(tmp_path)
    model = tmp_path / "rvq.safetensors"
    assert train.main(rvq_command(folder, model, 2)) == 0
    out = tmp_path / "rvq-prior.safetensors"
    assert train.main(tiny_prior_command(model, folder, second, out, 2)) == 0
    names, metadata = shapes(out)
    assert names["prior.stage2.condition0.vertical.weight"] == [8, 8, 3, 3]
    assert not any(k.startswith("prior.stage1.condition") for k in names)
    assert names["quantizer.stage2.codebook"] == [2, 16, 4]
    assert '"conditionChannels":8' in metadata["rvq.prior.config"]
    assert "heldOutBitsPerPixelByStages" in metadata["rvq.prior.metrics"]
    tensors, metadata = modelfile.read(str(out))
    assert len(modelfile.load_rvq_prior(tensors, metadata).stages()) == 2
    baseline = tmp_path / "unconditioned.safetensors"
    assert train.main(tiny_prior_command(model, folder, second, baseline, 1, "--unconditioned")) == 0
    names, metadata = shapes(baseline)
    assert not any("condition" in k for k in names) and '"conditionChannels":8' not in metadata["rvq.prior.config"]


def test_stage_prior_run_starts_from_another_files_priors_with_init_from(tmp_path):
    folder, second = make_two_folders(tmp_path)
    model = tmp_path / "rvq.safetensors"
    assert train.main(rvq_command(folder, model, 2)) == 0

    def prior_command(out, *extra):
        return tiny_prior_command(model, folder, second, out, 1, *extra)

    source = tmp_path / "source.safetensors"
    assert train.main(prior_command(source, "--seed", "3")) == 0
    warm, cold = tmp_path / "warm.safetensors", tmp_path / "cold.safetensors"
    assert train.main(prior_command(warm, "--init-from", str(source), "--lr", "1e-12")) == 0
    assert train.main(prior_command(cold, "--lr", "1e-12")) == 0
    a, b, c = (modelfile.read(str(p))[0] for p in (source, warm, cold))
    keys = [k for k in a if k.startswith("prior.")]
    assert keys and all(torch.allclose(a[k], b[k], atol=1e-6) for k in keys)
    assert not all(torch.allclose(a[k], c[k], atol=1e-6) for k in keys)
    assert '"initFrom":"source.safetensors"' in modelfile.read(str(warm))[1]["rvq.prior.recipe"]
    other = prior_command(tmp_path / "other.safetensors", "--init-from", str(source))
    other[other.index("--channels") + 1] = "6"
    assert train.main(other) == 64                                          # priors of another size
    assert train.main(prior_command(tmp_path / "x.safetensors", "--init-from", str(model))) == 64   # no priors in it


PROGRESSIVE_TINY = ROOT / "Fixtures" / "models" / "progressive-tiny.safetensors"


def _log_probabilities(prior: ProgressivePrior, model: ProgressiveVQVAE, seed: int) -> list[torch.Tensor]:
    """Each stage's log-probabilities [N, G, K, h, w] for random symbols of `model`'s stages."""
    generator = torch.Generator().manual_seed(seed)
    symbols = [torch.randint(0, k, (2, g, 7, 5), generator=generator) for g, k in model.config.stages]
    out = []
    with torch.no_grad():
        for n, (stage, (g, k)) in enumerate(zip(prior.stages(), model.config.stages)):
            condition = model.quantizer.lookup(symbols[:n]) if n else None
            out.append(torch.log_softmax(stage(symbols[n], condition).reshape(2, g, k, 7, 5), 2))
    return out


def test_thawed_integer_stage_priors_give_the_float_priors_probabilities():
    # The fixture's integer stage priors were frozen by `vqcodec freeze` from its float ones.
    tensors, metadata = modelfile.read(str(PROGRESSIVE_TINY))
    model, _, _ = modelfile.load_rvq(str(PROGRESSIVE_TINY))
    float_prior = modelfile.load_rvq_prior(tensors, metadata)
    thawed = modelfile.thaw_rvq_prior(tensors, metadata)
    assert thawed.configs == float_prior.configs
    for seed in (1, 2):
        for a, b in zip(_log_probabilities(thawed, model, seed), _log_probabilities(float_prior, model, seed)):
            assert (a - b).abs().max() < 2e-3                               # the integers' rounding only
    # The scales the integer file does not record come out at trained priors' magnitudes.
    stage = thawed.stage2
    assert abs(stage.embedding.weight.abs().mean().item() - modelfile.THAWED_EMBEDDING_MEAN) < 1e-3
    assert 0.01 < stage.block1.output.weight.abs().max().item() < 10
    # A wrong scale anywhere shows: one output rescale halved changes the probabilities.
    broken = dict(tensors)
    pairs = broken["prior_int.stage2.block0.output.rescale"].clone()
    pairs[:, 1] += 1
    broken["prior_int.stage2.block0.output.rescale"] = pairs
    changed = modelfile.thaw_rvq_prior(broken, metadata)
    a = _log_probabilities(changed, model, 1)[1]
    b = _log_probabilities(float_prior, model, 1)[1]
    assert (a - b).abs().max() > 1e-2
    with pytest.raises(ValueError, match="integer stage priors"):
        modelfile.thaw_rvq_prior(tensors, {k: v for k, v in metadata.items() if k != "rvq.prior_int.config"})


def test_stage_prior_run_starts_from_a_decode_only_files_integer_priors(tmp_path):
    folder, second = make_two_folders(tmp_path)
    tensors, metadata = modelfile.read(str(PROGRESSIVE_TINY))
    decode_only = tmp_path / "decode-only.safetensors"                      # as compact_model.py --decode-only
    modelfile.write_atomically({k: v for k, v in tensors.items() if not k.startswith("prior.")},
                               {k: v for k, v in metadata.items() if not k.startswith("rvq.prior.")}, str(decode_only))
    out = tmp_path / "warm.safetensors"
    assert train.main(["rvq-prior", "--model", str(PROGRESSIVE_TINY), "--data", str(folder), "--data", str(second),
                       "--out", str(out), "--steps", "1", "--batch", "2", "--crop", "4", "--channels", "8",
                       "--blocks", "2", "--embedding", "4", "--head", "8", "--hold-out-every", "2", "--threads", "1",
                       "--device", "cpu", "--lr", "1e-12", "--init-from", str(decode_only)]) == 0
    warm = modelfile.read(str(out))[0]
    thawed = modelfile.thaw_rvq_prior(tensors, metadata).export_state()
    assert thawed and all(torch.allclose(warm["prior." + k], v, atol=1e-5) for k, v in thawed.items())


def test_a_narrower_head_starts_from_the_hidden_channels_that_carry_the_most():
    torch.manual_seed(4)
    wide = [StagePriorConfig(1, 16, 2, 4, 1, 3, 8, 0), StagePriorConfig(2, 16, 2, 4, 1, 3, 8, 6)]
    narrow = [wide[0], StagePriorConfig(2, 16, 2, 4, 1, 3, 4, 6)]
    source, target = ProgressivePrior(wide), ProgressivePrior(narrow)
    with torch.no_grad():
        source.stage2.head.hidden.weight.mul_(torch.arange(1, 9).float().reshape(8, 1, 1, 1) % 5)
    assert warm_start_stage_priors(target, source) == [2]
    for key, value in source.stage1.state_dict().items():                 # an unchanged stage: copied whole
        assert torch.equal(target.stage1.state_dict()[key], value)
    # Hidden channels 0-3 are group 0, 4-7 group 1; row scales 1 2 3 4 | 0 1 2 3 (×(h+1) mod 5):
    # with logits columns of equal size in expectation, each group keeps its two largest rows.
    weight = (source.stage2.head.hidden.weight * source.stage2.head.hidden.mask).flatten(1).norm(dim=1)
    weight = weight * (source.stage2.head.logits.weight * source.stage2.head.logits.mask).flatten(2).norm(dim=(0, 2))
    expected = torch.cat([g * 4 + weight[g * 4:(g + 1) * 4].topk(2).indices.sort().values for g in range(2)])
    assert torch.equal(target.stage2.head.hidden.weight, source.stage2.head.hidden.weight[expected])
    assert torch.equal(target.stage2.head.logits.weight, source.stage2.head.logits.weight[:, expected])
    assert torch.equal(target.stage2.block0.vertical.weight, source.stage2.block0.vertical.weight)
    symbols = [torch.randint(0, 16, (1, 1, 3, 3)), torch.randint(0, 16, (1, 2, 3, 3))]
    logits = target.stage2(symbols[1], torch.randn(1, 6, 3, 3))             # the narrowed stage runs
    assert logits.shape == (1, 32, 3, 3)
    with pytest.raises(ValueError, match="only the head"):
        warm_start_stage_priors(ProgressivePrior([wide[0], StagePriorConfig(2, 16, 2, 6, 1, 3, 4, 6)]), source)
    with pytest.raises(ValueError, match="cannot widen"):
        warm_start_stage_priors(source, target)


def test_stage_prior_run_takes_a_head_width_per_stage(tmp_path):
    folder, second = make_two_folders(tmp_path)
    model = tmp_path / "rvq.safetensors"
    assert train.main(rvq_command(folder, model, 2)) == 0

    def prior_command(out, head, *extra):
        return tiny_prior_command(model, folder, second, out, 1, "--head", head, *extra)   # the last --head counts

    source = tmp_path / "source.safetensors"
    assert train.main(prior_command(source, "8")) == 0
    narrow = tmp_path / "narrow.safetensors"
    assert train.main(prior_command(narrow, "8,4", "--init-from", str(source))) == 0
    names, metadata = shapes(narrow)
    assert names["prior.stage1.head.logits.weight"][:2] == [16, 8]
    assert names["prior.stage2.head.logits.weight"][:2] == [32, 4]
    configs = json.loads(metadata["rvq.prior.config"])
    assert [c["headChannels"] for c in configs] == [8, 4]
    assert train.main(prior_command(tmp_path / "x.safetensors", "8,4,4")) == 64    # three widths, two stages
    with pytest.raises(SystemExit):
        train.main(prior_command(tmp_path / "y.safetensors", "8,x"))


def test_a_run_started_with_a_relative_init_from_resumes_with_the_same_command(tmp_path, monkeypatch):
    folder, _ = make_two_folders(tmp_path)
    assert train.main(rvq_command(folder, tmp_path / "source.safetensors", 1)) == 0
    monkeypatch.chdir(tmp_path)                        # --init-from as a user types it: relative
    command = rvq_command(folder, tmp_path / "warm.safetensors", 2, "--init-from", "source.safetensors")
    report = stop_after(monkeypatch, 1)
    assert train.main(command) == 130
    monkeypatch.setattr(train.Progress, "report", report)
    assert train.main(command + ["--resume"]) == 0                         # the same command, resumed
    assert '"steps":2' in shapes(tmp_path / "warm.safetensors")[1]["rvq.recipe"]
    other = rvq_command(folder, tmp_path / "warm.safetensors", 3, "--init-from", str(tmp_path / "second"), "--resume")
    assert train.main(other) == 64                                          # another file: refused


def test_init_from_starts_the_transforms_from_another_models(tmp_path):
    folder, _ = make_two_folders(tmp_path)
    source = tmp_path / "source.safetensors"
    assert train.main(rvq_command(folder, source, 2, "--seed", "9")) == 0
    warm = tmp_path / "warm.safetensors"
    # A learning rate of 1e-12: one Adam step moves each weight by about 1e-12, so the file holds the source's transforms.
    assert train.main(rvq_command(folder, warm, 1, "--init-from", str(source), "--lr", "1e-12")) == 0
    cold = tmp_path / "cold.safetensors"
    assert train.main(rvq_command(folder, cold, 1, "--lr", "1e-12")) == 0
    a, b, c = (modelfile.read(str(p))[0] for p in (source, warm, cold))
    transforms = [k for k in a if k.startswith(("analysis.", "synthesis."))]
    assert transforms
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in transforms)
    assert not all(torch.allclose(a[k], c[k], atol=1e-6) for k in transforms)
    assert "initFrom" in modelfile.read(str(warm))[1]["rvq.recipe"]
    wrong = tmp_path / "wrong.safetensors"
    command = rvq_command(folder, wrong, 1, "--init-from", str(source))
    command[command.index("--latent-channels") + 1] = "16"
    assert train.main(command) == 64                                        # transforms of another latent
    assert train.main(rvq_command(folder, tmp_path / "x.safetensors", 1, "--init-from", str(tmp_path / "none"))) == 64


@pytest.mark.parametrize("stride", [4, 8])
def test_widened_transforms_compute_what_the_narrow_ones_do(stride):
    torch.manual_seed(3)
    narrow = ProgressiveVQVAE(RVQConfig(stride, 8, 6, ((1, 16),)))
    for module in (narrow.analysis, narrow.synthesis):          # GDN parameters away from their initial values
        for layer in module:
            if isinstance(layer, GDN):
                layer.beta.data.uniform_(0.5, 1.5)
                layer.gamma.data.uniform_(0, 0.2)
    source = {f"{prefix}.{k}": v for prefix, m in (("analysis", narrow.analysis), ("synthesis", narrow.synthesis))
              for k, v in m.state_dict().items()}
    wide = ProgressiveVQVAE(RVQConfig(stride, 20, 6, ((1, 16),)))
    widen_transforms(wide.analysis, wide.synthesis, source, stride, 8)
    image = torch.rand(2, 3, 4 * stride, 3 * stride)
    latent = torch.randn(2, 6, 4, 3)
    with torch.no_grad():
        assert torch.allclose(wide.analysis(image), narrow.analysis(image), atol=1e-5)
        assert torch.allclose(wide.synthesis(latent), narrow.synthesis(latent), atol=1e-5)
        # The new channels are live: their activations are not zero, so the zero weights out of them learn.
        hidden = wide.synthesis[:2](latent)
        assert hidden[:, 8:].abs().max() > 0
    loss = wide.synthesis(latent).square().mean()
    loss.backward()
    assert wide.synthesis[2].weight.grad[:, 8:].abs().max() > 0
    with pytest.raises(ValueError):
        widen_transforms(narrow.analysis, narrow.synthesis, {f"{k}": v for k, v in source.items()}, stride, 20)


def test_init_from_widens_a_narrower_model_and_init_codebooks_takes_its_codebooks(tmp_path):
    folder, _ = make_two_folders(tmp_path)
    source = tmp_path / "source.safetensors"
    assert train.main(rvq_command(folder, source, 2, "--seed", "9")) == 0
    wide = tmp_path / "wide.safetensors"
    command = rvq_command(folder, wide, 1, "--init-from", str(source), "--init-codebooks", "--lr", "1e-12")
    command[command.index("--width") + 1] = "12"
    assert train.main(command) == 0
    a, b = modelfile.read(str(source))[0], modelfile.read(str(wide))[0]
    assert list(b["analysis.0.weight"].shape) == [12, 3, 5, 5]
    assert torch.allclose(b["analysis.0.weight"][:8], a["analysis.0.weight"], atol=1e-6)
    assert torch.count_nonzero(b["synthesis.0.weight"][8:]) > 0
    assert torch.allclose(b["synthesis.2.weight"][:32, 8:], torch.zeros(32, 4, 3, 3), atol=1e-6)
    # One EMA step (decay 0.99) moves each code by about a hundredth of its distance to its batch mean.
    codebook = "quantizer.stage2.codebook"
    assert torch.allclose(a[codebook], b[codebook], atol=0.05 * a[codebook].abs().max().item())
    assert '"initCodebooks":true' in modelfile.read(str(wide))[1]["rvq.recipe"]
    narrower = rvq_command(folder, tmp_path / "n.safetensors", 1, "--init-from", str(source))
    narrower[narrower.index("--width") + 1] = "4"
    assert train.main(narrower) == 64                                       # cannot narrow
    other = rvq_command(folder, tmp_path / "o.safetensors", 1, "--init-from", str(source), "--init-codebooks")
    other[other.index("--stages") + 1] = "1x16,2x32"
    assert train.main(other) == 64                                          # codebooks of other stages
    assert train.main(rvq_command(folder, tmp_path / "c.safetensors", 1, "--init-codebooks")) == 64


def continued_run(tmp_path, what, *extra):
    """A tiny progressive model, then three steps of `--train what` from it at a high learning rate:
    (folders, source path, continued path, source tensors, continued tensors)."""
    folder, second = make_two_folders(tmp_path)
    source = tmp_path / "source.safetensors"
    assert train.main(rvq_command(folder, source, 2, "--seed", "9")) == 0
    tuned = tmp_path / "tuned.safetensors"
    assert train.main(rvq_command(folder, tuned, 3, "--init-from", str(source), "--init-codebooks",
                                  "--train", what, "--lr", "1e-2", *extra)) == 0
    return (folder, second), source, tuned, modelfile.read(str(source))[0], modelfile.read(str(tuned))[0]


def test_train_synthesis_keeps_the_analysis_codebooks_and_symbols(tmp_path):
    (folder, second), source, tuned, a, b = continued_run(tmp_path, "synthesis", "--evaluate-every", "1")
    kept = [k for k in a if k.startswith(("analysis.", "quantizer."))]
    assert kept and all(torch.equal(a[k], b[k]) for k in kept)
    synthesis = [k for k in a if k.startswith("synthesis.")]
    assert any(not torch.allclose(a[k], b[k]) for k in synthesis)          # it trained
    assert '"trained":"synthesis"' in modelfile.read(str(tuned))[1]["rvq.recipe"]
    before, _, _ = modelfile.load_rvq(str(source))
    after, _, _ = modelfile.load_rvq(str(tuned))
    image = datasets.padded_image(datasets.load_rgb(datasets.list_images(str(second))[0]), 8)
    assert all(torch.equal(x, y) for x, y in zip(before.encode(image), after.encode(image)))
    # It needs the codebooks and the analysis of a model of its own width.
    assert train.main(rvq_command(folder, tmp_path / "n.safetensors", 1, "--init-from", str(source),
                                  "--train", "synthesis")) == 64
    wider = rvq_command(folder, tmp_path / "w.safetensors", 1, "--init-from", str(source), "--init-codebooks",
                        "--train", "synthesis")
    wider[wider.index("--width") + 1] = "12"
    assert train.main(wider) == 64


def test_train_transforms_keeps_the_codebooks_and_trains_both_transforms(tmp_path):
    (folder, _), source, tuned, a, b = continued_run(tmp_path, "transforms")
    codebooks = [k for k in a if k.startswith("quantizer.")]
    assert codebooks and all(torch.equal(a[k], b[k]) for k in codebooks)
    for prefix in ("analysis.", "synthesis."):
        assert any(not torch.allclose(a[k], b[k]) for k in a if k.startswith(prefix)), prefix   # both trained
    assert '"trained":"transforms"' in modelfile.read(str(tuned))[1]["rvq.recipe"]
    # Without the codebooks of the file it starts from there is nothing to keep.
    assert train.main(rvq_command(folder, tmp_path / "n.safetensors", 1, "--init-from", str(source),
                                  "--train", "transforms")) == 64


def test_graft_synthesis_puts_a_trained_synthesis_beside_the_priors_of_the_same_symbols(tmp_path, capsys):
    from train_torch import graft_synthesis
    folder, second = make_two_folders(tmp_path)
    source, priors = tmp_path / "source.safetensors", tmp_path / "priors.safetensors"
    assert train.main(rvq_command(folder, source, 2, "--seed", "9")) == 0
    assert train.main(tiny_prior_command(source, folder, second, priors, 1)) == 0
    tuned = tmp_path / "tuned.safetensors"
    assert train.main(rvq_command(folder, tuned, 2, "--init-from", str(source), "--init-codebooks",
                                  "--train", "synthesis", "--lr", "1e-2", "--name", "tuned")) == 0
    out = tmp_path / "out.safetensors"
    assert graft_synthesis.main([str(priors), str(tuned), str(out)]) == 0
    p, p_meta = modelfile.read(str(priors))
    t, t_meta = modelfile.read(str(tuned))
    o, o_meta = modelfile.read(str(out))
    assert set(o) == set(p)
    assert all(torch.equal(o[k], t[k] if k.startswith("synthesis.") else p[k]) for k in o)
    assert o_meta["name"] == "tuned" and o_meta["rvq.recipe"] == t_meta["rvq.recipe"]
    assert o_meta["rvq.prior.recipe"] == p_meta["rvq.prior.recipe"]
    # Transforms whose analysis moved would give other symbols: refused, nothing written.
    moved = tmp_path / "moved.safetensors"
    assert train.main(rvq_command(folder, moved, 2, "--init-from", str(source), "--init-codebooks",
                                  "--lr", "1e-2")) == 0
    refused = tmp_path / "refused.safetensors"
    capsys.readouterr()
    assert graft_synthesis.main([str(priors), str(moved), str(refused)]) == 65
    assert "differs" in capsys.readouterr().err and not refused.exists()
    before = priors.read_bytes()
    assert graft_synthesis.main([str(priors), str(tuned), str(priors)]) == 65     # never over an input
    assert priors.read_bytes() == before
    assert graft_synthesis.main([str(source), str(tuned), str(refused)]) == 64    # no priors in the first file
    assert graft_synthesis.main([str(tmp_path / "none"), str(tuned), str(refused)]) == 64


def test_headroom_reports_each_stage_count_and_the_unquantised_synthesis(tmp_path, capsys):
    from train_torch import headroom
    folder, second = make_two_folders(tmp_path)
    model_path = tmp_path / "rvq.safetensors"
    assert train.main(rvq_command(folder, model_path, 2)) == 0
    capsys.readouterr()
    assert headroom.main([str(model_path), str(second), "--json", "--threads", "1"]) == 0
    figures = json.loads(capsys.readouterr().out)
    model, _, _ = modelfile.load_rvq(str(model_path))
    expected_unquantised, expected_stages = [], [[], []]
    with torch.no_grad():
        for path in datasets.list_images(str(second)):
            x = datasets.padded_image(datasets.load_rgb(path), 8)
            latent = model.analysis(x)
            expected_unquantised.append(-10 * math.log10(((model.synthesis(latent).clamp(0, 1) - x) ** 2).mean().item()))
            _, parts = model.quantizer.quantize(latent)
            for n in range(2):
                y = model.synthesis(sum(parts[:n + 1])).clamp(0, 1)
                expected_stages[n].append(-10 * math.log10(((y - x) ** 2).mean().item()))
    assert figures["images"] == 3
    assert figures["psnrUnquantised"] == pytest.approx(np.mean(expected_unquantised), abs=1e-3)
    assert figures["psnrByStages"] == pytest.approx([np.mean(v) for v in expected_stages], abs=1e-3)
    assert headroom.main([str(model_path), str(tmp_path / "none")]) == 64
    assert "no such folder" in capsys.readouterr().err


def test_a_resumed_log_keeps_its_header_when_the_trainer_logs_more_columns(tmp_path, capsys):
    log = tmp_path / "run.log.csv"
    log.write_text("step,seconds,loss,held_out_psnr_1\n1,0.5,0.2,20.0\n")
    progress = train.Progress(str(log), 10, 1, 0.5)
    progress.report(2, "", {"loss": "0.1", "held_out_psnr_1": "21.0", "held_out_psnr_unquantised": "22.0"})
    progress.close()
    rows = log.read_text().splitlines()
    assert rows[0] == "step,seconds,loss,held_out_psnr_1"
    assert rows[2].split(",")[0] == "2" and rows[2].split(",")[2:] == ["0.1", "21.0"]
    fresh = tmp_path / "fresh.log.csv"
    progress = train.Progress(str(fresh), 10, 0, 0.0)
    progress.report(1, "", {"loss": "0.1", "held_out_psnr_unquantised": "22.0"})
    progress.close()
    assert fresh.read_text().splitlines()[0] == "step,seconds,loss,held_out_psnr_unquantised"


def test_recipes_record_paths_relative_to_the_repository(tmp_path):
    root = train.REPOSITORY
    shared = os.path.join(os.path.dirname(root), "shared", "data", "train")
    assert train.recorded_path(os.path.join(root, "runs", "m.safetensors")) == os.path.join("runs", "m.safetensors")
    assert train.recorded_path(shared) == os.path.join("..", "shared", "data", "train")
    assert train.recorded_path("runs/m.safetensors") == "runs/m.safetensors"          # relative: as given
    existing = os.path.join(root, "Tools")
    line = f"train.py rvq --data {existing} --out /no/such/file --lr 1e-4"
    assert train.recorded_command_line(line) == "train.py rvq --data Tools --out /no/such/file --lr 1e-4"


def test_held_out_links_the_images_the_trainer_holds_out(tmp_path, capsys):
    from train_torch import held_out
    folders = []
    for name, count in (("one", 12), ("two", 25)):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(count):
            (folder / f"{i:02d}.png").write_bytes(b"")
        folders.append(str(folder))
    groups = datasets.list_sources(folders)
    _, expected = datasets.split_held_out(groups, 10)
    assert [os.path.basename(p) for p in expected] == ["09.png", "09.png", "19.png"]
    links = tmp_path / "links"
    assert held_out.main([*folders, "--link", str(links)]) == 0
    assert sorted(os.listdir(links)) == ["one-09.png", "two-09.png", "two-19.png"]
    assert os.path.realpath(links / "two-19.png") == os.path.realpath(tmp_path / "two" / "19.png")
    assert held_out.main([*folders, "--link", str(links)]) == 0                 # again: the same links
    assert len(os.listdir(links)) == 3
    capsys.readouterr()
    assert held_out.main(folders) == 0
    assert capsys.readouterr().out.split() == [os.path.realpath(p) for p in expected]
    (links / "mine.txt").write_text("keep")
    assert held_out.main([*folders, "--link", str(links)]) == 64                # a folder of other files: left alone
    assert (links / "mine.txt").read_text() == "keep"
    assert held_out.main([str(tmp_path / "none")]) == 64


# ---------------------------------------------------------------------------------------------
# Rate term: the stage priors' bits, made differentiable by a soft assignment to the codes


def hard_stage_bits(q, prior, latent, counts):
    """Bits per example the priors charge for the nearest codes of `latent` (stage k counted for the
    examples that use it), the quantity `soft_stage_bits` stands in for."""
    symbols, parts = q.quantize(latent)
    total, decoded = 0.0, None
    with torch.no_grad():
        for k, (stage, s) in enumerate(zip(prior.stages(), symbols)):
            use = counts > k
            if use.any():
                logits = stage(s, decoded).reshape(s.shape[0], s.shape[1], -1, *s.shape[2:])
                bits = -torch.log_softmax(logits, dim=2).gather(2, s.unsqueeze(2)).sum(dim=(1, 2, 3, 4)) / math.log(2)
                total += float((bits * use).sum() / use.sum())
            decoded = parts[k] if decoded is None else decoded + parts[k]
    return total


def test_soft_stage_bits_are_the_priors_bits_when_cold_and_their_gradient_lowers_them():
    q, latent = trained_residual_quantizer()
    torch.manual_seed(4)
    prior = ProgressivePrior([StagePriorConfig(g, k, 4, 8, 1, 3, 16, 0 if i == 0 else 8)
                              for i, (g, k) in enumerate(q.config.stages)]).eval()
    with torch.no_grad():
        for stage in prior.stages():
            stage.head.logits.weight.mul_(10)          # a prior with preferences among the codes
    symbols, _ = q.quantize(latent)
    counts = torch.tensor([3, 1, 2, 3])
    with torch.no_grad():
        cold = soft_stage_bits(q, latent, symbols, counts, prior, 1e-4)
        warm = soft_stage_bits(q, latent, symbols, counts, prior, 1.0)
        first_stage_only = soft_stage_bits(q, latent, symbols, torch.ones(4, dtype=torch.int64), prior, 1e-4)
    expected = hard_stage_bits(q, prior, latent, counts)
    assert cold.item() == pytest.approx(expected, rel=1e-4)
    assert first_stage_only.item() == pytest.approx(hard_stage_bits(q, prior, latent, torch.ones(4)), rel=1e-4)
    assert first_stage_only.item() < cold.item() and warm.item() != pytest.approx(expected, rel=1e-3)
    with pytest.raises(ValueError, match="temperature"):
        soft_stage_bits(q, latent, symbols, counts, prior, 0.0)
    # Descending the soft bits moves the latent onto codes the priors charge less for.
    x = latent.clone().requires_grad_()
    optimizer = torch.optim.SGD([x], lr=0.05)
    for _ in range(40):
        symbols, _ = q.quantize(x.detach())
        loss = soft_stage_bits(q, x, symbols, counts, prior, 0.3)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert hard_stage_bits(q, prior, x.detach(), counts) < 0.9 * expected


def test_a_progressive_run_with_a_rate_term_records_it_and_refuses_half_of_it(tmp_path, capsys):
    folder, second = make_two_folders(tmp_path)
    model = tmp_path / "rvq.safetensors"
    assert train.main(rvq_command(folder, model, 2)) == 0
    priors = tmp_path / "rvq-prior.safetensors"
    assert train.main(tiny_prior_command(model, folder, second, priors, 1)) == 0
    capsys.readouterr()
    out = tmp_path / "rated.safetensors"
    assert train.main(rvq_command(folder, out, 2, "--init-from", str(model), "--init-codebooks",
                                  "--rate-prior", str(priors), "--rate-weight", "0.01")) == 0
    printed = capsys.readouterr().out
    assert "rate term: 0.01 × the soft bits per pixel" in printed and "soft rate" in printed
    recipe = json.loads(shapes(out)[1]["rvq.recipe"])
    assert recipe["ratePrior"] == "rvq-prior.safetensors" and recipe["rateWeight"] == 0.01
    assert recipe["rateTemperature"] == 0.1
    with open(str(out) + ".log.csv") as log:
        assert "soft_rate_bpp" in log.readline()
    refused = tmp_path / "refused.safetensors"
    assert train.main(rvq_command(folder, refused, 2, "--rate-prior", str(priors))) == 64
    assert train.main(rvq_command(folder, refused, 2, "--rate-weight", "0.01")) == 64
    assert train.main(rvq_command(folder, refused, 2, "--rate-prior", str(priors), "--rate-weight", "-1")) == 64
    # Priors for other stages are refused before any training.
    assert train.main(rvq_command(folder, refused, 2, "--stages", "1x16,2x16,2x16", "--rate-prior", str(priors),
                                  "--rate-weight", "0.01")) == 64
    assert "its stage priors are for stages" in capsys.readouterr().err
    assert not refused.exists()


def test_transforms_start_from_a_file_with_packed_kernels(tmp_path):
    import packed_weights
    packed = str(ROOT / "Fixtures" / "models" / "progressive-tiny-packed10.safetensors")
    shape, weights = train.transforms_of(packed)
    reference_shape, reference = train.transforms_of(str(PROGRESSIVE_TINY))
    assert shape == reference_shape and sorted(weights) == sorted(reference)
    for key, value in reference.items():
        assert weights[key].shape == value.shape, key
        if value.dim() == 4:
            scale, codes = packed_weights.pack(value.numpy(), 10)
            expected = packed_weights.unpack(scale, codes, 10, tuple(value.shape))
            assert torch.equal(weights[key], torch.from_numpy(expected)), key
        else:
            assert torch.equal(weights[key], value.half().float()), key
    model, stored, _ = modelfile.load_rvq(packed)                           # as rvq-prior --model reads it
    assert torch.equal(model.synthesis[2].weight, weights["synthesis.2.weight"])
    assert "synthesis.2.weight.packed10" in stored and "synthesis.2.weight" not in stored
    # Priors trained for a packed model are written beside its packed kernels, as they were.
    folder, second = make_two_folders(tmp_path)
    out = tmp_path / "priors.safetensors"
    assert train.main(["rvq-prior", "--model", packed, "--data", str(folder), "--data", str(second),
                       "--out", str(out), "--steps", "1", "--batch", "2", "--crop", "4", "--channels", "8",
                       "--blocks", "2", "--embedding", "4", "--head", "8", "--hold-out-every", "2", "--threads", "1",
                       "--device", "cpu"]) == 0
    written = modelfile.read(str(out))[0]
    for key, value in stored.items():
        if key.startswith(("analysis.", "synthesis.")):
            assert torch.equal(written[key], value), key
