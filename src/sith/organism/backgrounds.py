"""The world's textured backgrounds (:mod:`sith.organism.world`): water and ocean waves,
grass blades, sand dunes, forest canopy, rock blocks, each a mix of two colours by a
texture weight in [0, 1], drawn with vectorised numpy from the caller's generator.
"""

from __future__ import annotations

import numpy as np

from sith.organism.vocab import FACTORS

#: Each background's base colour, second colour and texture kind: ``(rgb, rgb2, kind)``.
STYLES = {
    "water": ((0.20, 0.45, 0.80), (0.45, 0.70, 0.95), "waves"),
    "ocean": ((0.05, 0.15, 0.45), (0.25, 0.40, 0.70), "swell"),
    "grass": ((0.25, 0.55, 0.15), (0.45, 0.75, 0.25), "blades"),
    "sand": ((0.85, 0.75, 0.50), (0.70, 0.58, 0.35), "dunes"),
    "forest": ((0.05, 0.28, 0.08), (0.35, 0.22, 0.10), "trees"),
    "rock": ((0.45, 0.45, 0.45), (0.65, 0.63, 0.60), "blocks"),
}


def bilinear_noise(rng: np.random.Generator, n: int, grid: int, size: int) -> np.ndarray:
    """``(n, size, size)`` smooth noise in [0, 1]: a random ``grid`` lattice, bilinearly upsampled."""
    lat = rng.random((n, grid + 1, grid + 1), dtype=np.float32)
    t = np.linspace(0, grid, size, endpoint=False, dtype=np.float32)
    i0 = t.astype(np.int64)
    w = (t - i0)[None, :]
    rows = lat[:, i0, :] * (1 - w[..., None]) + lat[:, i0 + 1, :] * w[..., None]
    return rows[:, :, i0] * (1 - w[:, None, :]) + rows[:, :, i0 + 1] * w[:, None, :]


def texture(kind: str, rng: np.random.Generator, n: int, s: int, coarse: bool) -> np.ndarray:
    """``(n, s, s)`` mixing weight in [0, 1] between a background's two colours."""
    y, x = np.mgrid[0:s, 0:s].astype(np.float32) / s
    ph = rng.random((n, 1, 1), dtype=np.float32) * 2 * np.pi
    f = 0.6 if coarse else 1.0
    if kind == "waves":
        wob = 0.04 * np.sin(2 * np.pi * 3 * f * x + ph)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * 9 * f * (y + wob) + ph)
    elif kind == "swell":
        t = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * f * (y + 0.3 * x) + ph)
        t = 0.7 * t + 0.3 * (bilinear_noise(rng, n, 16, s) > 0.8)
    elif kind == "blades":
        t = bilinear_noise(rng, n, int(32 * f), s)[:, :1, :].repeat(s, 1) * 0.6
        t = t + 0.4 * bilinear_noise(rng, n, int(16 * f), s)
    elif kind == "dunes":
        t = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * f * (x + 0.5 * y) + ph)
        t = 0.6 * t + 0.4 * rng.random((n, s, s), dtype=np.float32)
    elif kind == "trees":
        t = (bilinear_noise(rng, n, int(6 * f), s) > 0.55).astype(np.float32)
        t = 0.8 * t + 0.2 * bilinear_noise(rng, n, 20, s)
    else:  # blocks
        g = int(8 * f)
        cells = rng.random((n, g, g), dtype=np.float32)
        idx = (np.arange(s) * g // s)
        t = cells[:, idx][:, :, idx] * 0.8 + 0.2 * rng.random((n, s, s), dtype=np.float32)
    return np.clip(t, 0.0, 1.0)


def draw_backgrounds(bg: np.ndarray, rng: np.random.Generator, s: int, shifted: bool) -> np.ndarray:
    """``(n, s, s, 3)`` float32 backgrounds for ``bg`` ``(n,)`` (indices into
    ``FACTORS["background"]``), drawn per background in factor order; ``shifted``: the
    shifted world's warmer tint and coarser texture."""
    out = np.empty((len(bg), s, s, 3), dtype=np.float32)
    for k, name in enumerate(FACTORS["background"]):
        idx = np.flatnonzero(bg == k)
        if idx.size == 0:
            continue
        c1, c2, kind = STYLES[name]
        c1, c2 = np.array(c1, np.float32), np.array(c2, np.float32)
        if shifted:  # warmer tint, coarser texture
            c1, c2 = 0.7 * c1 + 0.3 * np.array([0.6, 0.4, 0.3], np.float32), c2[[1, 0, 2]]
        t = texture(kind, rng, idx.size, s, shifted)[..., None]
        out[idx] = c1 * (1 - t) + c2 * t
    return out
