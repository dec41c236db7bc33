"""An independent, deliberately plain re-statement of the seed's recipe (docs/method.md §2–§5).

Dense numpy, one vector at a time, scipy's NNLS: slow, but it shares no code with
``sith`` and so checks it. Used by the parity tests and ``benchmarks/parity.py``.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls


def folded_matrix(W_V: np.ndarray, W_O: np.ndarray, gamma1: np.ndarray, fold: bool) -> np.ndarray:
    """``C·diag(γ1)·W_V·W_O·C`` (foldln) or ``W_V·W_O``, dense ``(d, d)``."""
    W = W_V @ W_O
    if not fold:
        return W
    d = W.shape[0]
    C = np.eye(d) - np.ones((d, d)) / d
    return C @ np.diag(gamma1) @ W @ C


def svd_sign(W: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``rank`` SVD; each U column's largest-|·| entry positive, V flipped with it."""
    U, S, Vt = np.linalg.svd(W)
    U, S, V = U[:, :rank], S[:rank], Vt[:rank].T
    for i in range(rank):
        j = np.argmax(np.abs(U[:, i]))
        if U[j, i] < 0:
            U[:, i] *= -1
            V[:, i] *= -1
    return U, S, V


def target(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float, P: np.ndarray, m: np.ndarray | None):
    """``LN_post(x)·P``, normalise, minus the image mean, normalise."""
    xc = x - x.mean()
    y = xc / np.sqrt((xc**2).mean() + eps) * g + b
    t = y @ P
    t = t / np.linalg.norm(t)
    if m is not None:
        t = t - m
        t = t / np.linalg.norm(t)
    return t


def atoms(E: np.ndarray) -> np.ndarray:
    """Normalise rows, subtract the mean row, normalise."""
    T = E / np.linalg.norm(E, axis=1, keepdims=True)
    T = T - T.mean(0)
    return T / np.linalg.norm(T, axis=1, keepdims=True)


def comp(t: np.ndarray, A: np.ndarray, k: int, lam: float) -> list[tuple[int, float]]:
    """Seed COMP-λ (λ = 0: non-negative OMP): exactly ``k`` picks, sorted by weight desc."""
    S: list[int] = []
    w = np.zeros(0)
    r = t.copy()
    for _ in range(k):
        score = A @ r
        if S:
            score = score + lam * (A @ A[S].T).mean(1)
        score[S] = -np.inf
        S.append(int(np.argmax(score)))
        w, _ = nnls(A[S].T.astype(np.float64), t.astype(np.float64), maxiter=1000)
        r = t - w @ A[S]
    return sorted(zip(S, w.tolist()), key=lambda p: -p[1])


def mp(t: np.ndarray, A: np.ndarray, k: int) -> list[tuple[int, float]]:
    S, W = [], []
    r = t.copy()
    for _ in range(k):
        score = A @ r
        score[S] = -np.inf
        j = int(np.argmax(score))
        wj = max(float(A[j] @ r), 0.0)
        S.append(j)
        W.append(wj)
        r = r - wj * A[j]
    return sorted(zip(S, W), key=lambda p: -p[1])


def topk(t: np.ndarray, A: np.ndarray, k: int) -> list[tuple[int, float]]:
    S = [int(i) for i in np.argsort(-(A @ t), kind="stable")[:k]]
    w, _ = nnls(A[S].T.astype(np.float64), t.astype(np.float64), maxiter=1000)
    return sorted(zip(S, w.tolist()), key=lambda p: -p[1])


def explain(t: np.ndarray, A: np.ndarray, k: int, method: str) -> list[tuple[int, float]]:
    if method.startswith("comp"):
        lam = float(method.split("-", 1)[1]) if "-" in method else 0.3
        return comp(t, A, k, lam)
    if method == "omp":
        return comp(t, A, k, 0.0)
    if method == "mp":
        return mp(t, A, k)
    if method == "topk":
        return topk(t, A, k)
    raise ValueError(method)


def decompose_layer(weights, layer: int, E: np.ndarray, m: np.ndarray | None, *, rank: int, k: int,
                    method: str = "comp-0.3", fold: bool = True, sv_type: str = "right"):
    """``(scores, indices)`` ``(H, rank, k)`` of one layer, from a ``sith`` weight view's raw tensors."""
    lw = weights.layers[layer]
    g, b, P = (x.double().numpy() for x in (weights.ln_post_weight, weights.ln_post_bias, weights.proj))
    A = atoms(E.astype(np.float64))
    H = lw.W_V.shape[0]
    scores = np.zeros((H, rank, k))
    indices = np.zeros((H, rank, k), dtype=np.int64)
    for h in range(H):
        W = folded_matrix(lw.W_V[h].double().numpy(), lw.W_O[h].double().numpy(),
                          lw.ln1_weight.double().numpy(), fold)
        U, _, V = svd_sign(W, rank)
        X = V if sv_type == "right" else U
        for i in range(rank):
            t = target(X[:, i], g, b, weights.ln_post_eps, P, m)
            pairs = explain(t, A, k, method)
            indices[h, i] = [p[0] for p in pairs]
            scores[h, i] = [p[1] for p in pairs]
    return scores, indices
