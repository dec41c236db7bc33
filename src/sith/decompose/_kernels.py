"""Private numerical kernels of the sparse solvers (docs/method.md §4).

Everything here works on one chunk of targets that is already validated, float32 and
on its compute device; :mod:`sith.decompose.solvers` does the checking, chunking over
targets and the fidelity. Shapes: ``Y`` ``(B, e)`` unit targets, ``A`` ``(N, e)`` unit
atoms, ``k`` the sparsity.

The expensive step of every method is a correlation ``R · Aᵀ`` (``(B, e) × (e, N)``).
It is computed in slices of ``atom_chunk`` atoms into one reused buffer, keeping a
running best (greedy methods) or a running top-k (``topk``), so no ``(B, N)`` matrix is
ever held. Ties are broken by the lowest atom index everywhere: ``torch.max`` returns
the first maximal entry, a later slice only wins when strictly better, and top-k
candidates are ordered by (value descending, index ascending).

The small per-target systems (support Gram ``(B, t, t)``) are solved in float64.
"""

from __future__ import annotations

import torch
from torch import Tensor

RIDGE = 1e-12  # added to the diagonal of every small Gram solve (duplicate atoms stay solvable)
_NEG_INF = float("-inf")
_EXCLUDE = 1e30  # penalty per unit of correlation below tol (comp candidates)
_VALID = -1e6  # a comp score above this came from an admissible candidate


# --------------------------------------------------------------------------- top-k


def _order_desc(values: Tensor, indices: Tensor) -> tuple[Tensor, Tensor]:
    """Sort each row by value descending, ties by index ascending. ``(B, m)`` → ``(B, m)``."""
    o = torch.argsort(indices, dim=1)
    values, indices = values.gather(1, o), indices.gather(1, o)
    o = torch.sort(values, dim=1, descending=True, stable=True).indices
    return values.gather(1, o), indices.gather(1, o)


def topk_rows(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The ``min(k, n)`` largest entries of each row, ties resolved to the lowest column.

    Args:
        scores: ``(B, n)`` finite scores.
        k: how many to keep.

    Returns:
        ``values``, ``indices`` ``(B, min(k, n))``, ordered by value descending then
        index ascending. ``torch.topk`` alone does not promise which of several equal
        boundary values it keeps, so rows with a tie at the boundary are redone exactly.
    """
    kk = min(k, scores.shape[1])
    values, indices = torch.topk(scores, kk, dim=1)
    thr = values[:, -1:]
    tied = (scores >= thr).sum(1) > kk
    if bool(tied.any()):
        rows = tied.nonzero().squeeze(1)
        sub, t = scores[rows], thr[rows]
        gt, eq = sub > t, sub == t
        need = kk - gt.sum(1, keepdim=True)
        keep = gt | (eq & (eq.cumsum(1) <= need))
        cols = keep.nonzero()[:, 1].view(len(rows), kk)
        values[rows], indices[rows] = sub.gather(1, cols), cols
    return _order_desc(values, indices)


def topk_scan(Y: Tensor, A: Tensor, k: int, atom_chunk: int) -> tuple[Tensor, Tensor]:
    """The ``k`` atoms of highest cosine with each target, scanning atoms in slices.

    Returns:
        ``cosines``, ``indices`` ``(B, k)``, ordered by cosine descending.
    """
    B, N = Y.shape[0], A.shape[0]
    buf = torch.empty(B * min(atom_chunk, N), dtype=Y.dtype, device=Y.device)
    best_v = torch.empty(B, 0, dtype=Y.dtype, device=Y.device)
    best_i = torch.empty(B, 0, dtype=torch.long, device=Y.device)
    for lo in range(0, N, atom_chunk):
        hi = min(N, lo + atom_chunk)
        c = torch.mm(Y, A[lo:hi].T, out=buf[: B * (hi - lo)].view(B, hi - lo))
        v, i = topk_rows(c, k)
        v, i = _order_desc(torch.cat([best_v, v], 1), torch.cat([best_i, i + lo], 1))
        best_v, best_i = v[:, :k], i[:, :k]
    return best_v, best_i


def fidelity(Y: Tensor, A: Tensor, weights: Tensor, indices: Tensor) -> Tensor:
    """``cos(y, Σ_i w_i a_i)`` per row, 0 where the reconstruction is 0. ``(B,)``."""
    w = torch.where(indices >= 0, weights, torch.zeros_like(weights))
    x = torch.bmm(w[:, None, :], A[indices.clamp_min(0)]).squeeze(1)
    norm = torch.linalg.vector_norm(x, dim=1)
    cos = (x * Y).sum(1) / norm.clamp_min(1e-30)
    return torch.where(norm > 0, cos, torch.zeros_like(cos))


# --------------------------------------------------------------- small Gram systems


def masked_solve(G: Tensor, b: Tensor, P: Tensor) -> Tensor:
    """Least squares restricted to the passive set ``P``: ``z_P = G_PP⁻¹ b_P``, ``z = 0`` off ``P``.

    Args:
        G: ``(B, t, t)`` float64 support Gram. b: ``(B, t)`` float64. P: ``(B, t)`` bool.
    """
    m = (P[:, :, None] & P[:, None, :]).to(G.dtype)
    eye = torch.eye(G.shape[1], dtype=G.dtype, device=G.device)
    M = G * m + eye * (~P).to(G.dtype)[:, None, :] + RIDGE * eye
    z = torch.linalg.solve(M, (b * P)[:, :, None]).squeeze(-1)
    return z * P


def nnls_gram(G: Tensor, b: Tensor, used: Tensor, w0: Tensor, *, tol: float = 1e-12) -> Tensor:
    """Batched Lawson–Hanson NNLS on a small Gram: ``min ½wᵀGw − bᵀw`` s.t. ``w ≥ 0``.

    This is ``min ‖y − Σ_i w_i a_i‖²`` over the support with ``G = S Sᵀ``, ``b = S y``
    (docs/method.md §5, the coefficients of ``comp``/``omp``/``topk`` and the ``ncomp`` option).
    Every row runs the active-set method in lock-step; each iteration either accepts a
    feasible least-squares solve and adds the slot of largest positive gradient, or steps
    back to the boundary and drops the blocking slots.

    Args:
        G: ``(B, t, t)`` float64. b: ``(B, t)`` float64.
        used: ``(B, t)`` bool, slots that hold an atom (others stay 0).
        w0: ``(B, t)`` feasible warm start that is the least-squares solution on its
            positive entries (zeros, or the previous step's solution, qualify).
        tol: gradient below which a slot is not worth adding.

    Returns:
        ``w`` ``(B, t)`` float64, ``w ≥ 0``, satisfying the KKT conditions to ``tol``.
    """
    P = (w0 > 0) & used
    w = torch.where(P, w0, torch.zeros_like(w0))
    done = torch.zeros(G.shape[0], dtype=torch.bool, device=G.device)
    for it in range(4 * G.shape[1] + 20):
        z = w if it == 0 else masked_solve(G, b, P)  # w0 is already the solve on its support
        feas = ((z > 0) | ~P).all(1) & ~done
        infeas = ~feas & ~done
        # feasible rows: accept z, then add the best violating slot or finish
        w = torch.where(feas[:, None], z, w)
        grad = b - torch.einsum("bij,bj->bi", G, w)
        grad = torch.where(used & ~P, grad, torch.full_like(grad, _NEG_INF))
        gmax, gidx = grad.max(1)
        add = feas & (gmax > tol)
        done = done | (feas & ~add)
        P = P | (add[:, None] & (torch.arange(G.shape[1], device=G.device) == gidx[:, None]))
        # infeasible rows: move from w towards z until the first slot hits zero
        block = P & (z <= 0)
        ratio = torch.where(block, w / (w - z).clamp_min(1e-300), torch.full_like(w, 2.0))
        alpha = ratio.min(1).values.clamp(0.0, 1.0)
        stepped = w + alpha[:, None] * (z - w)
        w = torch.where(infeas[:, None], stepped, w)
        hit = (block & (ratio <= alpha[:, None])) | (w <= 0)
        drop = infeas[:, None] & P & hit
        w = torch.where(drop, torch.zeros_like(w), w)
        P = P & ~drop
        if bool(done.all()):
            break
    return w.clamp_min(0.0)


# ------------------------------------------------------------------ greedy pursuits


def _best_atoms(
    R: Tensor,
    M: Tensor | None,
    A: Tensor,
    chosen: Tensor,
    *,
    mode: str,
    lam: float,
    tol: float,
    atom_chunk: int,
) -> Tensor:
    """One selection step over all atoms, in slices, with a running argmax.

    Scores per not-yet-chosen atom ``j`` (``c_j = ⟨a_j, r⟩``, ``m`` the mean chosen atom):

    * ``seed`` (the seed's COMP/OMP, docs/method.md §5): ``c_j + λ·⟨a_j, m⟩`` — one matmul with
      ``q = r + λ·m``; every atom is a candidate, so a pick always exists.
    * ``ncomp`` (project option): ``(1−λ)·c_j/‖r‖ + λ·⟨a_j, m⟩`` among atoms with
      ``c_j ≥ tol`` (``R`` and ``q`` stacked into one ``(2B, e) × (e, n)`` matmul).
    * ``nn``: ``c_j`` among atoms with ``c_j > tol``. ``omp`` (signed): ``|c_j| > tol``.

    Args:
        R: ``(B, e)`` residuals. M: ``(B, e)`` mean chosen atoms (after step 1) or None.
        chosen: ``(B, t)`` atom indices so far (``-1`` = none).

    Returns:
        ``(B,)`` int64 index of the best candidate, ``-1`` where there is none.
    """
    B, N = R.shape[0], A.shape[0]
    width = min(atom_chunk, N)
    coh = mode == "ncomp" and M is not None
    if mode == "seed":
        Q = R if M is None else torch.add(R, M, alpha=lam)
    elif coh:  # score_j = ⟨a_j, q⟩ with q = (1−λ)·r/‖r‖ + λ·m: one matmul, no elementwise pass
        inv_rn = (1.0 - lam) / torch.linalg.vector_norm(R, dim=1, keepdim=True).clamp_min(1e-30)
        Q = torch.cat([R, torch.addcmul(lam * M, R, inv_rn)])
    else:
        Q = R
    buf = torch.empty(Q.shape[0] * width, dtype=R.dtype, device=R.device)
    best = torch.full((B,), _NEG_INF, dtype=R.dtype, device=R.device)
    best_i = torch.full((B,), -1, dtype=torch.long, device=R.device)
    rows_all = torch.arange(B, device=R.device)[:, None].expand_as(chosen)
    for lo in range(0, N, atom_chunk):
        hi = min(N, lo + atom_chunk)
        n = hi - lo
        Z = torch.mm(Q, A[lo:hi].T, out=buf[: Q.shape[0] * n].view(Q.shape[0], n))
        if coh:
            C, S = Z[:B], Z[B:]
            # push candidates with c_j < tol below any real score (|score| ≤ 1) without a
            # bool mask: in-place arithmetic is several times faster here
            S.add_(C.sub_(tol).clamp_max_(0.0), alpha=_EXCLUDE)
        else:
            S = Z.abs_() if mode == "omp" else Z
        local = chosen - lo
        inr = (local >= 0) & (local < n)
        if bool(inr.any()):
            S[rows_all[inr], local[inr]] = _NEG_INF
        v, i = S.max(1)
        upd = v > best
        best = torch.where(upd, v, best)
        best_i = torch.where(upd, i + lo, best_i)
    if mode == "seed":
        ok = best > _NEG_INF
    else:
        ok = best > _VALID if coh else best > tol
    return torch.where(ok, best_i, torch.full_like(best_i, -1))


def greedy_pursuit(
    Y: Tensor, A: Tensor, k: int, *, mode: str, lam: float, tol: float, atom_chunk: int
) -> tuple[Tensor, Tensor]:
    """Greedy pursuits with a refit after every pick, for a chunk of targets.

    * ``mode="seed"``: the seed's COMP-λ (``λ = 0``: its non-negative OMP), docs/method.md §5 —
      score ``⟨r, a_j⟩ + λ·mean_{s∈S}⟨a_j, a_s⟩``, NNLS refit, exactly ``k`` steps (an
      atom whose NNLS weight is 0 stays selected with weight 0).
    * ``"ncomp"`` (project option): the normalised score ``(1−λ)·⟨r, a_j⟩/‖r‖ + λ·coherence``
      among atoms of positive correlation, NNLS; ``λ = 0`` runs ``"nn"``.
    * ``"nn"``: positive-correlation picks, NNLS. ``"omp"``: signed OMP, least squares.

    In the three project modes a target stops when no candidate is left (correlation
    ``≤ tol``); its remaining slots stay unused (weight 0, index -1). The support Gram
    ``(B, t, t)`` grows by one row per step; NNLS is warm-started from the previous step.

    Returns:
        ``weights`` ``(B, k)`` float32 and ``indices`` ``(B, k)`` int64, in selection order.
    """
    B, e = Y.shape
    dev = Y.device
    if mode == "ncomp" and lam == 0.0:
        mode = "nn"
    idx = torch.full((B, k), -1, dtype=torch.long, device=dev)
    S = torch.zeros(B, k, e, dtype=Y.dtype, device=dev)
    G = torch.zeros(B, k, k, dtype=torch.float64, device=dev)
    b = torch.zeros(B, k, dtype=torch.float64, device=dev)
    w = torch.zeros(B, k, dtype=torch.float64, device=dev)
    R = Y.clone()
    csum = torch.zeros_like(Y)
    coherent = mode in ("seed", "ncomp") and lam != 0.0
    active = torch.ones(B, dtype=torch.bool, device=dev)
    everyone = slice(None)
    for t in range(k):
        # a slice while every target is still running (views, no gathers), else indices
        rows = everyone if bool(active.all()) else active.nonzero().squeeze(1)
        M = csum[rows] / t if coherent and t > 0 else None
        pick = _best_atoms(
            R[rows], M, A, idx[rows, :t], mode=mode, lam=lam, tol=tol, atom_chunk=atom_chunk
        )
        ok = pick >= 0
        if not bool(ok.all()):
            rows = torch.arange(B, device=dev)[rows][ok]
            pick = pick[ok]
            active[:] = False
            active[rows] = True
        if pick.numel() == 0:
            break
        idx[rows, t] = pick
        a_new = A[pick]
        S[rows, t] = a_new
        csum[rows] += a_new
        St = S[rows, : t + 1]
        g = torch.bmm(St, a_new[:, :, None]).squeeze(-1).double()
        G[rows, t, : t + 1] = g
        G[rows, : t + 1, t] = g
        b[rows, t] = (a_new * Y[rows]).sum(1).double()
        Gt, bt, used = G[rows, : t + 1, : t + 1], b[rows, : t + 1], idx[rows, : t + 1] >= 0
        if mode == "omp":
            wt = masked_solve(Gt, bt, used)
        else:
            wt = nnls_gram(Gt, bt, used, w[rows, : t + 1])
        w[rows, : t + 1] = wt
        R[rows] = Y[rows] - torch.bmm(wt.to(Y.dtype)[:, None, :], St).squeeze(1)
    return w.to(Y.dtype), idx


def matching_pursuit(Y: Tensor, A: Tensor, k: int, *, atom_chunk: int) -> tuple[Tensor, Tensor]:
    """The seed's non-negative matching pursuit (docs/method.md §5 ``mp``), ``k`` steps, no refit.

    Each step picks the not-yet-chosen ``argmax_j ⟨r, a_j⟩``, gives it the weight
    ``max(⟨r, a_j⟩, 0)`` and subtracts ``weight·a_j`` from the residual.

    Returns:
        ``weights`` ``(B, k)`` and ``indices`` ``(B, k)``, in selection order.
    """
    B = Y.shape[0]
    idx = torch.full((B, k), -1, dtype=torch.long, device=Y.device)
    w = torch.zeros(B, k, dtype=Y.dtype, device=Y.device)
    R = Y.clone()
    for t in range(k):
        pick = _best_atoms(R, None, A, idx[:, :t], mode="seed", lam=0.0, tol=0.0, atom_chunk=atom_chunk)
        a = A[pick]
        wt = (a * R).sum(1).clamp_min(0.0)
        idx[:, t], w[:, t] = pick, wt
        R = R - wt[:, None] * a
    return w, idx


def nnls_refit(Y: Tensor, A: Tensor, indices: Tensor) -> Tensor:
    """NNLS weights ``(B, k)`` of each target on its ``k`` given atoms (``topk``'s refit)."""
    S = A[indices]  # (B, k, e)
    G = torch.bmm(S, S.transpose(1, 2)).double()
    b = torch.bmm(S, Y[:, :, None]).squeeze(-1).double()
    used = torch.ones_like(indices, dtype=torch.bool)
    return nnls_gram(G, b, used, torch.zeros_like(b)).to(Y.dtype)


def order_by_weight(weights: Tensor, indices: Tensor) -> tuple[Tensor, Tensor]:
    """Each row's pairs sorted by weight, descending (docs/method.md §6); ties keep their order and
    unused slots (index -1) go last."""
    key = torch.where(indices >= 0, weights, torch.full_like(weights, _NEG_INF))
    o = torch.sort(key, dim=1, descending=True, stable=True).indices
    return weights.gather(1, o), indices.gather(1, o)
