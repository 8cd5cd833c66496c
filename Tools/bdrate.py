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
do not mix figures from different methods. `bd_rate(..., method="pchip")` and `bd_psnr(...,
method="pchip")` use the monotone piecewise-cubic Hermite interpolant of Fritsch and Carlson (the
slopes SciPy's PchipInterpolator uses) through the points instead of the least-squares cubic, and
integrate it exactly (Simpson's rule is exact on each cubic piece).
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


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch–Carlson derivatives at the knots (x strictly increasing): shape-preserving."""
    h = np.diff(x)
    delta = np.diff(y) / h
    if x.size == 2:
        return np.array([delta[0], delta[0]])
    d = np.zeros_like(y)
    for k in range(1, x.size - 1):
        if delta[k - 1] * delta[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])

    def edge(h0: float, h1: float, d0: float, d1: float) -> float:
        slope = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
        if np.sign(slope) != np.sign(d0):
            return 0.0
        if np.sign(d0) != np.sign(d1) and abs(slope) > abs(3 * d0):
            return 3 * d0
        return float(slope)

    d[0] = edge(h[0], h[1], delta[0], delta[1])
    d[-1] = edge(h[-1], h[-2], delta[-1], delta[-2])
    return d


def _pchip_mean_over(x: np.ndarray, y: np.ndarray, lo: float, hi: float, what: str) -> float:
    """Mean of the pchip interpolant of (x, y) over [lo, hi] ⊆ [min x, max x]."""
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"{what}: pchip needs distinct abscissae (two points share one)")
    d = _pchip_slopes(x, y)

    def value(t: np.ndarray) -> np.ndarray:
        k = np.clip(np.searchsorted(x, t, side="right") - 1, 0, x.size - 2)
        h = x[k + 1] - x[k]
        s = (t - x[k]) / h
        h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
        h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
        return h00 * y[k] + h10 * h * d[k] + h01 * y[k + 1] + h11 * h * d[k + 1]

    # Simpson's rule on each piece between consecutive breakpoints is exact for cubics.
    edges = np.unique(np.concatenate([[lo, hi], x[(x > lo) & (x < hi)]]))
    a, b = edges[:-1], edges[1:]
    total = np.sum((b - a) / 6 * (value(a) + 4 * value((a + b) / 2) + value(b)))
    return float(total / (hi - lo))


def _overlap(a: np.ndarray, b: np.ndarray, what: str) -> tuple[float, float]:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    if not hi > lo:
        raise ValueError(f"{what}: the two curves do not overlap "
                         f"([{a.min():.4g}, {a.max():.4g}] and [{b.min():.4g}, {b.max():.4g}])")
    return float(lo), float(hi)


def _check_method(method: str) -> None:
    if method not in ("cubic", "pchip"):
        raise ValueError(f"method must be 'cubic' or 'pchip', got {method!r}")


def bd_rate(anchor_rates: Sequence[float], anchor_psnrs: Sequence[float],
            test_rates: Sequence[float], test_psnrs: Sequence[float], method: str = "cubic") -> float:
    """Bjøntegaard delta rate of the test curve against the anchor, in percent (classic cubic,
    or piecewise-cubic Hermite with method="pchip").

    Raises ValueError when a curve is malformed or the PSNR ranges do not overlap.
    """
    _check_method(method)
    ar, ap = _points(anchor_rates, anchor_psnrs, "anchor")
    tr, tp = _points(test_rates, test_psnrs, "test")
    lo, hi = _overlap(ap, tp, "BD-rate (PSNR ranges)")
    if method == "pchip":
        d = _pchip_mean_over(tp, np.log(tr), lo, hi, "test") - _pchip_mean_over(ap, np.log(ar), lo, hi, "anchor")
        return (math.exp(d) - 1.0) * 100.0
    d = _mean_over(_fit(tp, np.log(tr), "test"), lo, hi) - _mean_over(_fit(ap, np.log(ar), "anchor"), lo, hi)
    return (math.exp(d) - 1.0) * 100.0


def bd_psnr(anchor_rates: Sequence[float], anchor_psnrs: Sequence[float],
            test_rates: Sequence[float], test_psnrs: Sequence[float], method: str = "cubic") -> float:
    """Bjøntegaard delta PSNR of the test curve against the anchor, in dB (classic cubic, or
    piecewise-cubic Hermite with method="pchip").

    Raises ValueError when a curve is malformed or the rate ranges do not overlap.
    """
    _check_method(method)
    ar, ap = _points(anchor_rates, anchor_psnrs, "anchor")
    tr, tp = _points(test_rates, test_psnrs, "test")
    la, lt = np.log(ar), np.log(tr)
    lo, hi = _overlap(la, lt, "BD-PSNR (rate ranges)")
    if method == "pchip":
        return _pchip_mean_over(lt, tp, lo, hi, "test") - _pchip_mean_over(la, ap, lo, hi, "anchor")
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
