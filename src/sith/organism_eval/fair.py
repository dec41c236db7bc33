"""A fair twin test: random directions matched in strength, and the held-out ceiling.

A random unit mix of all of a head's write vectors responds like the head's *top* components
(its activation ``Σ_i g_i s_i ⟨z, u_i⟩`` is dominated by the large singular values), while the
trained score averages every singular index equally. The nulls here are matched in strength:

* **Bands.** Singular index ``j`` belongs to band ``j // BAND`` (``BAND`` = 4 neighbouring
  indices: 0–3, 4–7, …). A strength-matched random direction for component ``(layer, h, j)``
  is ``r = Σ_{i ∈ band(j)} g_i v_i^{h'}`` with ``g`` a Gaussian unit vector over the band's
  indices, taken in head ``h'`` of the same layer; its activation is ``Σ_i g_i act_i^{h'}``.
* **Other heads** (:func:`band_coefs` with ``other_head=True``): ``h'`` a uniformly drawn
  *other* head of the same layer. Component ``c``'s own explanation is scored against the
  twins of ``r`` instead of ``c``: the null for "does this explanation name what *this*
  component does", rather than what any direction of the same strength elsewhere does.
* **Same head** (``other_head=False``): ``h' = h``. The same question inside the head: "is the
  singular basis privileged inside a head". A head that carries one factor cannot pass it by
  design: every direction of its write space is a direction of that factor.

**Held-out single-value ceiling** (:func:`held_out_best`): for a component and a factor, the
value whose twin AUC is highest on one half of the pairs (even pair index), scored on the
other half (odd), and the reverse, averaged — what the best one-value explanation of that
factor scores without being chosen on the pairs it is scored on.

Public API::

    band_of(rank, band) -> (rank,) band index per singular index
    band_coefs(n_heads, rank, seed, *, band, other_head) -> (src (H, r), g (H, r, r))
    along_band(acts (n, H, r), src, g) -> (n, H, r)
    held_out_best(diff (n, N), a (n,), b (n,), n_values) -> (N,)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

#: Neighbouring singular indices that form one strength band.
BAND = 4


def band_of(rank: int, band: int = BAND) -> Tensor:
    """``(rank,)`` band index ``j // band`` of each singular index ``j``."""
    return torch.arange(rank) // band


def band_coefs(
    n_heads: int, rank: int, seed: int, *, band: int = BAND, other_head: bool
) -> tuple[Tensor, Tensor]:
    """Strength-matched random directions of one layer (module doc).

    Returns:
        ``src (H, r)`` int64: the head direction ``(h, j)`` is drawn in; ``g (H, r, r)``
        float64: its unit coefficients over that head's singular vectors, zero outside
        ``band(j)``. Deterministic in ``seed``.

    Raises:
        ValueError: ``other_head`` with a single head (there is no other head).
    """
    if other_head and n_heads < 2:
        raise ValueError("the other-head null needs at least 2 heads per layer")
    gen = torch.Generator().manual_seed(seed)
    bands = band_of(rank, band)
    mask = (bands[:, None] == bands[None, :]).double()  # (r, r): i in band(j)
    g = torch.randn(n_heads, rank, rank, generator=gen, dtype=torch.float64) * mask
    g = g / g.norm(dim=-1, keepdim=True)
    heads = torch.arange(n_heads)[:, None].expand(n_heads, rank)
    if not other_head:
        return heads.clone(), g
    shift = torch.randint(1, n_heads, (n_heads, rank), generator=gen)
    return (heads + shift) % n_heads, g


def along_band(acts: Tensor, src: Tensor, g: Tensor) -> Tensor:
    """``(n, H, r)`` activations along the directions of :func:`band_coefs`:
    ``out[:, h, j] = Σ_i g[h, j, i] · acts[:, src[h, j], i]``.

    Args:
        acts: ``(n, H, r)`` component activations of one layer.
    """
    picked = acts.double()[:, src]  # (n, H, r, r): the source head's activations per direction
    return torch.einsum("nhji,hji->nhj", picked, g).to(acts.dtype)


def _half_table(diff: np.ndarray, a: np.ndarray, b: np.ndarray, n_values: int) -> np.ndarray:
    out = np.full((diff.shape[1], n_values), np.nan)
    for k in range(n_values):
        d = np.concatenate([diff[b == k], -diff[a == k]])
        if len(d):
            out[:, k] = ((d > 0) + 0.5 * (d == 0)).mean(0)
    return out


def held_out_best(diff: np.ndarray, a: np.ndarray, b: np.ndarray, n_values: int) -> np.ndarray:
    """``(N,)`` held-out twin AUC of each component's best single value (module doc).

    Args:
        diff: ``(n, N)`` twin minus base activation per pair and component.
        a, b: ``(n,)`` value index of each base / twin.
        n_values: the factor's number of values.
    """
    halves = [np.arange(len(a)) % 2 == k for k in (0, 1)]
    tables = [_half_table(diff[m], a[m], b[m], n_values) for m in halves]
    out = []
    for pick, score in ((tables[0], tables[1]), (tables[1], tables[0])):
        ok = np.isfinite(pick) & np.isfinite(score)
        best = np.where(ok, pick, -np.inf).argmax(1)
        val = score[np.arange(len(best)), best]
        out.append(np.where(ok.any(1), val, np.nan))
    both = np.stack(out)
    seen = np.isfinite(both)
    return np.where(seen.any(0), np.where(seen, both, 0).sum(0) / np.maximum(seen.sum(0), 1), np.nan)
