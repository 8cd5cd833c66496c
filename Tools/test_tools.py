"""Tests for Tools/bdrate.py, Tools/plot_rd.py, Tools/plot_training.py and Tools/baselines.py.

    python3 -m pytest Tools/test_tools.py -q
"""
import csv
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baselines  # noqa: E402
import plot_rd  # noqa: E402
import plot_training  # noqa: E402
from bdrate import bd_psnr, bd_rate, psnr_at_rate  # noqa: E402

# A JPEG-like curve (Kodak-ish figures), deliberately not a cubic in PSNR.
RATES = [0.18, 0.31, 0.45, 0.62, 0.85, 1.2, 1.9, 3.1]
PSNRS = [24.1, 26.9, 28.6, 29.9, 31.3, 32.9, 35.4, 38.7]


def test_bd_rate_of_a_curve_against_itself_is_zero():
    assert bd_rate(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)


def test_pchip_bd_rate_of_scaled_rates_is_exact_and_matches_a_dense_reference():
    scaled = [r * 0.8 for r in RATES]
    assert bd_rate(RATES, PSNRS, scaled, PSNRS, method="pchip") == pytest.approx(-20.0, abs=1e-9)
    assert bd_rate(RATES, PSNRS, RATES, PSNRS, method="pchip") == pytest.approx(0.0, abs=1e-12)
    shifted = [p + 0.5 for p in PSNRS]
    assert bd_psnr(RATES, PSNRS, RATES, shifted, method="pchip") == pytest.approx(0.5, abs=1e-9)
    # An irregular test curve: the exact piecewise integral equals a dense trapezoid of the same
    # interpolant (checked against SciPy's PchipInterpolator where SciPy is installed).
    test_r, test_p = [0.1, 0.2, 0.45, 0.9], [25.0, 27.5, 28.0, 31.0]
    value = bd_rate(RATES, PSNRS, test_r, test_p, method="pchip")
    try:
        from scipy.interpolate import PchipInterpolator
    except ImportError:
        pytest.skip("SciPy not installed: the dense reference check needs it")
    lo, hi = max(min(PSNRS), min(test_p)), min(max(PSNRS), max(test_p))
    grid = np.linspace(lo, hi, 200001)
    a = PchipInterpolator(np.array(PSNRS), np.log(RATES))(grid)
    t = PchipInterpolator(np.array(test_p), np.log(test_r))(grid)
    diff = t - a
    mean = float(np.sum(diff[1:] + diff[:-1]) / 2 * (grid[1] - grid[0]) / (hi - lo))
    assert value == pytest.approx((math.exp(mean) - 1) * 100, abs=1e-4)


def test_bd_method_is_checked():
    with pytest.raises(ValueError, match="method"):
        bd_rate(RATES, PSNRS, RATES, PSNRS, method="akima")


def test_bd_rate_of_rates_scaled_by_0_8_is_minus_20_percent():
    scaled = [0.8 * r for r in RATES]
    assert bd_rate(RATES, PSNRS, scaled, PSNRS) == pytest.approx(-20.0, abs=0.1)
    # and the anchor against the scaled curve needs 25 % more
    assert bd_rate(scaled, PSNRS, RATES, PSNRS) == pytest.approx(25.0, abs=0.1)


def test_bd_rate_ignores_point_order_and_uses_only_the_overlap():
    order = [3, 0, 7, 5, 1, 6, 2, 4]
    scaled = [0.5 * RATES[i] for i in order]
    assert bd_rate(RATES, PSNRS, scaled, [PSNRS[i] for i in order]) == pytest.approx(-50.0, abs=0.1)
    # Where log-rate is exactly a cubic of PSNR the fits are exact, so BD-rate is the mean log-rate gap
    # over the PSNR overlap. The test curve covers 30..38 dB of the anchor's 24..38 dB and its gap
    # grows as 0.05 * (PSNR - 30): mean 0.2 over the overlap (it would be 0.05 averaged over 24..38 dB).
    psnrs = [24.0, 26.0, 28.5, 30.0, 32.0, 35.0, 38.0]
    rates = [math.exp(-2.0 + 0.21 * (p - 24) - 0.004 * (p - 24) ** 2 + 0.0003 * (p - 24) ** 3) for p in psnrs]
    test = [r * math.exp(0.05 * (p - 30)) for r, p in zip(rates[3:], psnrs[3:])]
    assert bd_rate(rates, psnrs, test, psnrs[3:]) == pytest.approx((math.exp(0.2) - 1) * 100, abs=1e-6)


def test_bd_psnr_of_a_curve_one_db_higher_is_one_db():
    assert bd_psnr(RATES, PSNRS, RATES, [p + 1 for p in PSNRS]) == pytest.approx(1.0, abs=1e-6)
    assert bd_rate(RATES, PSNRS, RATES, [p + 1 for p in PSNRS]) < 0


def test_bd_rate_refuses_disjoint_curves_and_bad_rates():
    with pytest.raises(ValueError, match="do not overlap"):
        bd_rate([0.1, 0.2], [20, 22], [0.5, 0.6], [30, 31])
    with pytest.raises(ValueError, match="> 0"):
        bd_rate([0.0, 0.2], [20, 22], [0.1, 0.2], [20, 22])
    with pytest.raises(ValueError, match="at least 2"):
        bd_rate([0.1], [20], [0.1, 0.2], [20, 22])


def test_bd_rate_with_fewer_than_four_points_fits_a_lower_degree():
    # two points: log-rate is a line in PSNR; halving both rates is exactly -50 %
    assert bd_rate([0.2, 0.8], [28, 32], [0.1, 0.4], [28, 32]) == pytest.approx(-50.0, abs=1e-9)


def test_psnr_at_rate_interpolates_linearly_in_log_rate():
    rates, psnrs = [0.1, 0.4, 1.6], [30.0, 36.0, 40.0]
    assert psnr_at_rate(rates, psnrs, 0.2) == pytest.approx(33.0)      # log-midpoint of 0.1 and 0.4
    assert psnr_at_rate(rates, psnrs, 0.4) == pytest.approx(36.0)      # a measured point
    assert psnr_at_rate(rates, psnrs, 0.8) == pytest.approx(38.0)
    assert psnr_at_rate([1.6, 0.1, 0.4], [40.0, 30.0, 36.0], 0.2) == pytest.approx(33.0)  # unsorted input
    assert psnr_at_rate(rates, psnrs, 0.05) is None
    assert psnr_at_rate(rates, psnrs, 2.0) is None


def _write_results(path, name, bpp, psnr, mse=None, psnr_key="psnr-rgb"):
    results = {"bpp": bpp, psnr_key: psnr}
    if mse is not None:
        results["mse"] = mse
    path.write_text(json.dumps({"name": name, "description": "test", "results": results}))


def test_plot_rd_reports_bd_rate_and_psnr_at_rates(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    _write_results(a, "Anchor", RATES, PSNRS, [255 ** 2 / 10 ** (p / 10) for p in PSNRS])
    _write_results(b, "Better", [0.8 * r for r in RATES], PSNRS, psnr_key="psnr")  # CompressAI's older key, no MSE
    out = tmp_path / "rd.png"
    assert plot_rd.main([str(a), str(b), "--out", str(out), "--title", "t", "--rates", "0.125", "0.45"]) == 0
    text = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| ") and not line.startswith("| curve")}
    assert rows["Anchor"][:2] == ["anchor", "anchor"]
    assert rows["Anchor"][2:] == ["-", "28.60"]         # 0.125 bpp is below the anchor's lowest rate
    assert rows["Better"][0] == "-20.00 %"
    assert float(rows["Better"][1]) > 0
    assert out.stat().st_size > 10_000 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_rd_compares_a_single_point_with_the_anchor_at_its_rate(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    _write_results(a, "Anchor", RATES, PSNRS, [255 ** 2 / 10 ** (p / 10) for p in PSNRS])
    rate = math.sqrt(RATES[1] * RATES[2])  # halfway in log-rate between two anchor points
    expected = (PSNRS[1] + PSNRS[2]) / 2
    _write_results(b, "Point", [rate], [expected - 1.5], [100.0])
    assert plot_rd.main([str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert f"Point: one point, {rate:.4f} bpp at {expected - 1.5:.2f} dB; Anchor at that rate: {expected:.2f} dB (-1.50 dB)" in text


def test_plot_rd_refuses_a_malformed_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "results": {"bpp": [0.1, 0.2], "psnr-rgb": [30]}}))
    assert plot_rd.main([str(bad)]) == 2
    assert "psnr-rgb has 1 entries but results.bpp has 2" in capsys.readouterr().err


def _tiny_images(folder):
    """Two small deterministic test images: an RGB gradient with texture and a gray one."""
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:40, 0:56]
    rgb = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1) + rng.normal(0, 12, (40, 56, 3))
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB").save(folder / "a.png")
    gray = 128 + 60 * np.sin(x / 5.0) * np.cos(y / 7.0) + rng.normal(0, 10, x.shape)
    Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)[:, :48], "L").save(folder / "b.png")


@pytest.mark.parametrize("codec", ["jpeg", "webp"])
def test_baselines_write_compressai_json_and_csv(tmp_path, codec, capsys):
    images = tmp_path / "images"
    images.mkdir()
    _tiny_images(images)
    (images / "notes.txt").write_text("not an image")
    out = tmp_path / "res" / f"{codec}.json"
    qualities = [90, 10, 50]  # given unsorted
    assert baselines.main([str(images), "--codec", codec, "--qualities", *map(str, qualities), "--out", str(out)]) == 0

    doc = json.loads(out.read_text())
    assert set(doc) == {"name", "description", "results"}
    assert doc["name"].startswith({"jpeg": "JPEG (Pillow ", "webp": "WebP (Pillow "}[codec])
    res = doc["results"]
    assert set(res) == {"psnr-rgb", "mse", "bpp", "encoding_time", "decoding_time", "quality"}
    assert res["quality"] == [10, 50, 90]
    assert all(len(v) == 3 for v in res.values())
    assert res["bpp"][0] < res["bpp"][1] < res["bpp"][2]
    assert res["psnr-rgb"][0] < res["psnr-rgb"][2]
    assert res["mse"][0] > res["mse"][2] > 0
    assert all(t > 0 for t in res["encoding_time"] + res["decoding_time"])

    with open(out.with_suffix(".csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["image"] for r in rows] == ["a.png"] * 3 + ["b.png"] * 3
    assert {(r["width"], r["height"]) for r in rows} == {("56", "40"), ("48", "40")}
    for i, q in enumerate(res["quality"]):
        at_q = [r for r in rows if int(r["quality"]) == q]
        assert all(r["codec"] == codec for r in at_q)
        for r in at_q:
            assert float(r["bpp"]) == pytest.approx(8 * int(r["bytes"]) / (int(r["width"]) * int(r["height"])), rel=1e-5)
            assert float(r["psnr"]) == pytest.approx(10 * math.log10(255 ** 2 / float(r["mse"])), abs=1e-4)
        # JSON entries are means of the per-image values
        assert res["bpp"][i] == pytest.approx(np.mean([float(r["bpp"]) for r in at_q]), rel=1e-5)
        assert res["psnr-rgb"][i] == pytest.approx(np.mean([float(r["psnr"]) for r in at_q]), abs=1e-5)
        assert res["mse"][i] == pytest.approx(np.mean([float(r["mse"]) for r in at_q]), rel=1e-5)
    # and the plot script reads what baselines writes
    assert plot_rd.load_curve(out).bpp == sorted(res["bpp"])
    capsys.readouterr()


def test_baselines_compare_gray_images_in_gray():
    rng = np.random.default_rng(9)
    ref = Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8), "L")
    for codec in ("jpeg", "webp"):
        row = baselines.measure(ref, "g.png", codec, 75)
        assert (row.width, row.height) == (32, 24)
        dec = baselines.decode(baselines.encode(ref, codec, 75), "L")
        assert dec.mode == "L" and dec.size == ref.size
        assert row.mse == pytest.approx(np.mean((np.asarray(ref, float) - np.asarray(dec, float)) ** 2))


def test_baselines_refuse_bad_input(tmp_path, capsys):
    assert baselines.main([str(tmp_path), "--codec", "jpeg"]) == 2
    assert "holds no .png files" in capsys.readouterr().err
    assert baselines.main([str(tmp_path), "--codec", "jpeg", "--qualities", "0"]) == 2
    assert "quality must be in 1..100" in capsys.readouterr().err


def _write_phase_one_log(path, steps, psnr):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "elapsed_s", "psnr_db"])
        for step, value in zip(steps, psnr):
            writer.writerow([step, step / 10, value])


def test_running_mean_averages_the_last_n_values():
    assert plot_training.running_mean([1, 2, 3, 4], 1) == [1, 2, 3, 4]
    assert plot_training.running_mean([1, 3, 5, 7], 2) == [1, 2, 4, 6]


def test_plot_training_draws_a_continued_run_after_its_source(tmp_path, capsys):
    first, second = tmp_path / "m.log.csv", tmp_path / "m-r2.log.csv"
    _write_phase_one_log(first, [50, 100, 150], [20.0, 21.0, 22.0])
    _write_phase_one_log(second, [50, 100], [22.5, 23.0])
    prior = tmp_path / "m-r2.prior.log.csv"
    with open(prior, "w", newline="") as handle:
        handle.write("step,elapsed_s,bits_per_symbol,held_out_bits_per_symbol\n50,5,7.0,\n100,10,6.5,6.8\n")
    out = tmp_path / "curves.png"
    assert plot_training.main([str(first), str(second), str(prior), "--out", str(out), "--after", "m-r2=m",
                               "--smooth", "2"]) == 0
    text = capsys.readouterr().out
    assert "m-r2: phase I, 250 steps" in text  # 100 steps, drawn after the 150 of m
    assert "m-r2: phase II, 100 steps" in text  # its prior's log is not moved
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit):
        plot_training.main([str(first), "--out", str(out), "--after", "m-r2=m"])


def test_plot_training_reads_the_progressive_models_logs(tmp_path, capsys):
    rvq = tmp_path / "rvq-a.safetensors.log.csv"
    rvq.write_text("step,seconds,loss,mse,psnr_db,held_out_psnr_1,held_out_psnr_2,held_out_psnr_unquantised\n"
                   "100,10,0.1,0.1,20.0,,,\n200,20,0.1,0.1,21.0,22.5,24.25,25.0\n")
    prior = tmp_path / "rvq-a.safetensors.prior.log.csv"
    prior.write_text("step,seconds,bits_per_symbol_1,bits_per_symbol_2,held_out_bits_per_symbol_1,"
                     "held_out_bits_per_symbol_2\n20,4,8.5,8.9,,\n40,8,7.25,8.5,7.0,8.125\n")
    out = tmp_path / "curves.png"
    assert plot_training.main([str(rvq), str(prior), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert ("rvq-a: phase I, 200 steps, 20 s, last PSNR 21.00 dB (training crops); held out, 1 stage: 22.50 dB; "
            "held out, 2 stages: 24.25 dB") in text
    assert ("rvq-a: phase II (stage priors), 40 steps, 8 s, last bits/symbol stage 1 7.250 (held out 7.000) "
            "stage 2 8.500 (held out 8.125)") in text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_codebook_match_counts_codes_that_keep_their_index():
    import codebook_match
    rng = np.random.default_rng(1)
    before = rng.normal(size=(2, 64, 8))
    moved = before + rng.normal(scale=0.01, size=before.shape)          # small drift: every index kept
    shuffled = before[:, rng.permutation(64), :]                       # same vectors, other indices
    assert codebook_match.kept_share(before, moved) == [1.0, 1.0]
    assert max(codebook_match.kept_share(before, shuffled)) < 0.2
    with pytest.raises(ValueError):
        codebook_match.kept_share(before, before[:, :32])


def test_compact_model_halves_floats_and_decode_only_drops_the_float_prior(tmp_path):
    import compact_model
    from safetensors import safe_open
    from safetensors.numpy import save_file
    tensors = {
        "analysis.0.weight": np.full((2, 2), 0.1, np.float32),
        "synthesis.0.weight": np.full((2, 2), 0.2, np.float32),
        "quantizer.codebook": np.ones((1, 4, 2), np.float32),
        "quantizer.cluster_size": np.ones((1, 4), np.float32),
        "prior.embed.weight": np.ones((4, 2), np.float32),
        "prior_int.embed.weight": np.ones((4, 2), np.int16),
    }
    meta = {"vqvae.config": "{}", "prior.config": "{}", "prior_int.config": "{}", "name": "m"}
    source = tmp_path / "m.safetensors"
    save_file(tensors, str(source), metadata=meta)

    def read(path):
        with safe_open(str(path), framework="numpy") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()

    compact_model.compact(str(source), str(tmp_path / "half.safetensors"))
    half, half_meta = read(tmp_path / "half.safetensors")
    assert half["synthesis.0.weight"].dtype == np.float16 and half["prior.embed.weight"].dtype == np.float16
    assert half["quantizer.codebook"].dtype == np.float32 and half["prior_int.embed.weight"].dtype == np.int16
    assert "quantizer.cluster_size" not in half and "prior.config" in half_meta

    compact_model.compact(str(source), str(tmp_path / "slim.safetensors"), decode_only=True)
    slim, slim_meta = read(tmp_path / "slim.safetensors")
    assert sorted(slim) == ["analysis.0.weight", "prior_int.embed.weight", "quantizer.codebook", "synthesis.0.weight"]
    assert "prior.config" not in slim_meta and slim_meta["prior_int.config"] == "{}"
    np.testing.assert_array_equal(slim["prior_int.embed.weight"], tensors["prior_int.embed.weight"])

    assert compact_model.main(["--decode-only", "--half-codebooks", str(source), str(tmp_path / "h.safetensors")]) == 0
    small, small_meta = read(tmp_path / "h.safetensors")
    assert small["quantizer.codebook"].dtype == np.float16 and small["prior_int.embed.weight"].dtype == np.int16
    assert "codebooks" in small_meta["weights"]
    stages = {"quantizer.stage1.codebook": np.ones((1, 4, 2), np.float32),
              "prior_int.stage1.embedding": np.ones((1, 4, 2), np.int16)}
    save_file(stages, str(tmp_path / "rvq.safetensors"), metadata={"rvq.config": "{}", "rvq.prior_int.config": "{}"})
    compact_model.compact(str(tmp_path / "rvq.safetensors"), str(tmp_path / "rvq-h.safetensors"), half_codebooks=True)
    rvq, _ = read(tmp_path / "rvq-h.safetensors")
    assert sorted(rvq) == ["prior_int.stage1.embedding", "quantizer.stage1.codebook"]
    assert rvq["quantizer.stage1.codebook"].dtype == np.float16

    mode = os.stat(tmp_path / "h.safetensors").st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask                                           # not owner-only
    before = (tmp_path / "h.safetensors").read_bytes()
    assert compact_model.main([str(tmp_path / "h.safetensors"), str(tmp_path / "h.safetensors")]) == 65
    assert (tmp_path / "h.safetensors").read_bytes() == before              # the input is untouched
    assert compact_model.main([str(tmp_path / "none.safetensors"), str(tmp_path / "y.safetensors")]) == 66
    assert not (tmp_path / "y.safetensors").exists()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]

    del tensors["prior_int.embed.weight"]
    save_file(tensors, str(source), metadata={"vqvae.config": "{}", "prior.config": "{}"})
    assert compact_model.main(["--decode-only", str(source), str(tmp_path / "x.safetensors")]) == 65
    assert not (tmp_path / "x.safetensors").exists()
    assert compact_model.main([str(source)]) == 64


def test_the_model_list_quotes_the_kodak_measurements_of_the_shipped_models():
    # `vqcodec models` prints levels.json's figures; they must be those `vqcodec rd` measured.
    root = Path(__file__).resolve().parent.parent
    catalogue = json.loads((root / "Models" / "shipped" / "levels.json").read_text())

    def measured(name):
        results = json.loads((root / "Tools" / "results" / "kodak" / name).read_text())
        r = results["results"]
        return results["models"], [{"bpp": round(b, 4), "psnr": round(p, 2), "mse": round(m, 2)}
                                   for b, p, m in zip(r["bpp"], r["psnr-rgb"], r["mse"])]

    models, figures = measured("vqcodec.json")
    assert [level["model"] for level in catalogue["levels"]] == models
    assert [level["kodak"] for level in catalogue["levels"]] == figures
    models, figures = measured("vqcodec-progressive.json")
    (progressive,) = catalogue["progressive"]
    assert models == [f"{progressive['model']} q{k + 1}" for k in range(len(figures))]
    assert progressive["kodak"] == figures


def test_packed_weights_round_trip_and_compact_packs_the_transforms_kernels(tmp_path):
    import compact_model
    import packed_weights
    from safetensors import safe_open
    from safetensors.numpy import save_file
    rng = np.random.default_rng(3)
    for bits in (2, 8, 10, 16):
        w = rng.normal(size=(5, 3, 3, 3)).astype(np.float32)
        w[2] = 0                                                      # an all-zero row: scale 0
        scale, codes = packed_weights.pack(w, bits)
        assert codes.dtype == np.uint8 and codes.size == (w.size * bits + 7) // 8
        back = packed_weights.unpack(scale, codes, bits, w.shape)
        limit = 2 ** (bits - 1) - 1
        assert np.all(np.abs(back - w) <= scale[:, None, None, None] / 2 * 1.0001)
        assert np.array_equal(np.abs(back).reshape(5, -1).max(axis=1), scale * limit)
        assert np.all(back[2] == 0)
    with pytest.raises(ValueError):
        packed_weights.pack(np.ones((2, 2), np.float32), 17)

    tensors = {"synthesis.0.weight": rng.normal(size=(4, 2, 3, 3)).astype(np.float32),
               "synthesis.0.bias": np.ones(4, np.float32),
               "analysis.1.gamma": np.eye(2, dtype=np.float32),
               "quantizer.stage1.codebook": np.ones((1, 4, 2), np.float32),
               "prior_int.stage1.embedding": np.ones((1, 4, 2), np.int16)}
    source = tmp_path / "m.safetensors"
    save_file(tensors, str(source), metadata={"rvq.config": "{}", "rvq.prior_int.config": "{}"})
    assert compact_model.main(["--pack-transforms", "10", str(source), str(tmp_path / "p.safetensors")]) == 0
    with safe_open(str(tmp_path / "p.safetensors"), framework="numpy") as f:
        packed = {k: f.get_tensor(k) for k in f.keys()}
        meta = f.metadata()
    assert sorted(packed) == ["analysis.1.gamma", "prior_int.stage1.embedding", "quantizer.stage1.codebook",
                              "synthesis.0.bias", "synthesis.0.weight.packed10", "synthesis.0.weight.scale"]
    assert packed["synthesis.0.bias"].dtype == np.float16 and packed["analysis.1.gamma"].dtype == np.float16
    assert "packed at 10 bits" in meta["weights"]
    restored = packed_weights.unpack_all(packed, {"synthesis.0.weight": (4, 2, 3, 3)})
    assert np.max(np.abs(restored["synthesis.0.weight"] - tensors["synthesis.0.weight"])) < 0.01
    # Compacting a packed file again keeps its packed tensors as they are (the scales F32).
    assert compact_model.main(["--decode-only", str(tmp_path / "p.safetensors"), str(tmp_path / "d.safetensors")]) == 0
    with safe_open(str(tmp_path / "d.safetensors"), framework="numpy") as f:
        again = {k: f.get_tensor(k) for k in f.keys()}
    assert again["synthesis.0.weight.scale"].dtype == np.float32
    assert np.array_equal(again["synthesis.0.weight.packed10"], packed["synthesis.0.weight.packed10"])
    # Packing again packs only float kernels: packed ones stay as they were.
    partly = dict(packed)
    partly["analysis.2.weight"] = rng.normal(size=(2, 2, 5, 5)).astype(np.float32)
    save_file(partly, str(tmp_path / "partly.safetensors"), metadata={"rvq.config": "{}", "rvq.prior_int.config": "{}"})
    assert compact_model.main(["--pack-transforms", "8", str(tmp_path / "partly.safetensors"),
                               str(tmp_path / "r.safetensors")]) == 0
    with safe_open(str(tmp_path / "r.safetensors"), framework="numpy") as f:
        repacked = {k: f.get_tensor(k) for k in f.keys()}
    assert np.array_equal(repacked["synthesis.0.weight.packed10"], packed["synthesis.0.weight.packed10"])
    assert repacked["synthesis.0.weight.scale"].dtype == np.float32
    assert "analysis.2.weight.packed8" in repacked and "analysis.2.weight" not in repacked
    # A width outside 2…16 or a missing width is a usage error.
    assert compact_model.main(["--pack-transforms", "20", str(source), str(tmp_path / "q.safetensors")]) == 65
    assert compact_model.main([str(source), str(tmp_path / "q.safetensors"), "--pack-transforms"]) == 64
    assert not (tmp_path / "q.safetensors").exists()
