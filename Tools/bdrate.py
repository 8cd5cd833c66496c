"""Bjøntegaard deltas and rate interpolation for rate-distortion curves.

A curve is a list of (rate, psnr) points: rate in bits per pixel (> 0), PSNR in dB. Order does
not matter; the functions sort as they need.

BD-rate (VCEG-M33, G. Bjøntegaard, 2001, the "classic" cubic method):
  1. for each curve fit log(rate) as a cubic polynomial of PSNR (least squares over all its points);
  2. integrate both polynomials over the PSNR interval where the curves overlap,
     [max(min PSNR), min(max PSNR)];
  3. the mean log-rate difference over that interval, d = (integral_test - integral_anchor) / width,
     gives BD-rate = (exp(d) - 1) * 100 %: the average rate change of the test curve at equal PSNR.
     Negative means the test curve needs fewer bits than the anchor.
BD-PSNR swaps the axes: PSNR as a cubic of log(rate), integrated over the overlapping log-rate
interval; the mean difference (test - anchor) in dB. Positive means the test curve is better.

A curve with fewer than four points is fitted with a polynomial of degree (points - 1) instead of a
cubic (a line through two points, a parabola through three). Newer tools (the JCT-VC/JVET
common-test-conditions Excel sheets, the `bjontegaard` Python package) replace the global cubic by
a piecewise-cubic Hermite (pchip) or Akima interpolant, which stays close to the points; on
irregular curves the two methods can give noticeably different figures, so state the method and
do not mix figures from different methods.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
from numpy.polynomial import Polynomial


def _points(rates: Sequence[float], psnrs: Sequence[float], what: str) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rates, dtype=np.float64)
    p = np.asarray(psnrs, dtype=np.float64)
    if r.ndim != 1 or r.shape != p.shape:
        raise ValueError(f"{what}: rates and PSNRs must be two lists of the same length, "
                         f"got {r.shape} and {p.shape}")
    if r.size < 2:
        raise ValueError(f"{what}: a curve needs at least 2 points, got {r.size}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(p))):
        raise ValueError(f"{what}: rates and PSNRs must be finite numbers")
    if np.any(r <= 0):
        raise ValueError(f"{what}: every rate must be > 0 bpp, got {r.min()}")
    return r, p


def _mean_over(fit: Polynomial, lo: float, hi: float) -> float:
    integral = fit.integ()
    return float((integral(hi) - integral(lo)) / (hi - lo))


def _fit(x: np.ndarray, y: np.ndarray, what: str) -> Polynomial:
    if np.unique(x).size < 2:
        raise ValueError(f"{what}: the curve's points must not all have the same abscissa")
    degree = min(3, np.unique(x).size - 1)
    return Polynomial.fit(x, y, degree)


def _overlap(a: np.ndarray, b: np.ndarray, what: str) -> tuple[float, float]:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    if not hi > lo:
        raise ValueError(f"{what}: the two curves do not overlap "
                         f"([{a.min():.4g}, {a.max():.4g}] and [{b.min():.4g}, {b.max():.4g}])")
    return float(lo), float(hi)


def bd_rate(anchor_rates: Sequence[float], anchor_psnrs: Sequence[float],
            test_rates: Sequence[float], test_psnrs: Sequence[float]) -> float:
    """Bjøntegaard delta rate of the test curve against the anchor, in percent (classic cubic).

    Raises ValueError when a curve is malformed or the PSNR ranges do not overlap.
    """
    ar, ap = _points(anchor_rates, anchor_psnrs, "anchor")
    tr, tp = _points(test_rates, test_psnrs, "test")
    lo, hi = _overlap(ap, tp, "BD-rate (PSNR ranges)")
    d = _mean_over(_fit(tp, np.log(tr), "test"), lo, hi) - _mean_over(_fit(ap, np.log(ar), "anchor"), lo, hi)
    return (math.exp(d) - 1.0) * 100.0


def bd_psnr(anchor_rates: Sequence[float], anchor_psnrs: Sequence[float],
            test_rates: Sequence[float], test_psnrs: Sequence[float]) -> float:
    """Bjøntegaard delta PSNR of the test curve against the anchor, in dB (classic cubic).

    Raises ValueError when a curve is malformed or the rate ranges do not overlap.
    """
    ar, ap = _points(anchor_rates, anchor_psnrs, "anchor")
    tr, tp = _points(test_rates, test_psnrs, "test")
    la, lt = np.log(ar), np.log(tr)
    lo, hi = _overlap(la, lt, "BD-PSNR (rate ranges)")
    return _mean_over(_fit(lt, tp, "test"), lo, hi) - _mean_over(_fit(la, ap, "anchor"), lo, hi)


def psnr_at_rate(rates: Sequence[float], psnrs: Sequence[float], rate: float) -> Optional[float]:
    """PSNR of the curve at `rate` bpp by linear interpolation of PSNR against log(rate).

    Returns None when `rate` lies outside [min rate, max rate] of the curve (no extrapolation).
    """
    r, p = _points(rates, psnrs, "curve")
    if not rate > 0:
        raise ValueError(f"rate must be > 0 bpp, got {rate}")
    order = np.argsort(r, kind="stable")
    r, p = r[order], p[order]
    if rate < r[0] or rate > r[-1]:
        return None
    return float(np.interp(math.log(rate), np.log(r), p))
