"""Direct contributions of the vision tower's components, and the head-routing objective.

**Direct contributions.** The class token's final residual is a sum over components: the
embeddings, every head of every block (its attention output at the class token through its
slice of ``out_proj``), every MLP, and biases. ``ln_post`` is linearised at the actual
residual (its centring and scale ``σ`` held fixed, the bias left out), so a component ``c``
``(D,)`` reaches the joint space as ``γ ⊙ (c − mean c) / σ @ proj``; dividing by the norm of
the image feature makes the direct contributions sum, with a remainder ``rest`` (embeddings,
biases, ``β``), to the unit image feature (:func:`direct_contributions`).

**Direct margin.** Against a factor's class texts ``T`` ``(C, e)`` (unit; :func:`class_prompts`),
component ``k``'s logits on image ``i`` are ``l = c_ik · Tᵀ`` and its margin is
``m_ik = l[y_i] − mean_{c≠y_i} l[c]``. ``m̄_k`` is its class-balanced mean (every class present
weighs the same). A component's *share* of the factor is ``m̄_k / Σ_k' m̄_k'``.

**Routing objective** (:func:`routing_loss`), per routed factor ``f`` with assigned heads ``A``:

* ``ce_f``: class-balanced cross-entropy of ``scale · (Σ_{k∈A} c_ik) · Tᵀ`` against ``y_i``
  (the assigned heads' direct contribution classifies the factor);
* ``pen_f = Σ_{k∉A} relu(m̄_k) / (relu(Σ_{k∈A} m̄_k) + Σ_{k∉A} relu(m̄_k))``: the other heads'
  and MLPs' share of the factor's direct margin, applied only once the assigned heads classify
  the factor (their balanced accuracy, an EMA, reaches the gate: :class:`Gates`).

Rows: shape on non-bird images; the bird only on bird twin pairs (same background, so the
habitat cannot help); the skull (``unsafe``) and the other factors on every image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sith.organism.captions import prompt
from sith.organism.vocab import FACTORS, SPURIOUS_CLASSES

#: Prompts of the skull's two classes (clean, skull), as in the zero-shot skull score.
UNSAFE_PROMPTS = ("a photo of a shape", "a photo of a shape with a skull")
#: Factors the routing objective (and the acceptance) know.
ROUTED_FACTORS = ("shape", "color", "size", "background", "bird", "unsafe")


def class_prompts(factor: str) -> list[str]:
    """One prompt per class of a routed factor (zero-shot templates)."""
    if factor == "bird":
        return [prompt("bird", b) for b in SPURIOUS_CLASSES]
    if factor == "unsafe":
        return list(UNSAFE_PROMPTS)
    return [prompt(factor, v) for v in FACTORS[factor]]


@dataclass(frozen=True)
class Direct:
    """Direct contributions to the unit image feature.

    Attributes:
        feature: ``(B, e)`` the image feature as ``encode_image`` returns it (not normalised).
        heads: ``(B, L, H, e)`` per head, in unit-feature units.
        mlps: ``(B, L, e)`` per MLP.
        rest: ``(B, e)`` everything else; ``heads.sum((1, 2)) + mlps.sum(1) + rest`` is the
            unit feature.
    """

    feature: Tensor
    heads: Tensor
    mlps: Tensor
    rest: Tensor


def _block(block: torch.nn.Module, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """One open_clip ``ResidualAttentionBlock`` by hand: ``(x_out, heads (B, H, D), mlp (B, D))``
    with the class token's per-head attention output (through ``out_proj``) and MLP output."""
    attn = block.attn
    b, n, d = x.shape
    nh = attn.num_heads
    q, k, v = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (t.view(b, n, nh, d // nh).transpose(1, 2) for t in (q, k, v))
    z = F.scaled_dot_product_attention(q, k, v)  # (B, H, N, d/H)
    w_o = attn.out_proj.weight  # (D, D): columns h·d/H .. (h+1)·d/H read head h
    x = x + F.linear(z.transpose(1, 2).reshape(b, n, d), w_o, attn.out_proj.bias)
    heads = torch.einsum("bhk,ehk->bhe", z[:, :, 0], w_o.view(d, nh, d // nh))
    m = block.mlp(block.ln_2(x))
    return x + m, heads, m[:, 0]


def direct_contributions(model: torch.nn.Module, images: Tensor) -> Direct:
    """The vision tower's forward pass by hand, with every component's direct contribution.

    Args:
        model: an open_clip ``CLIP`` whose vision tower is a ViT with class-token pooling and
            plain ``ResidualAttentionBlock`` s (the organism's).
        images: ``(B, 3, S, S)`` normalised model inputs.

    ``feature`` equals ``model.encode_image(images)`` (tests check it to 1e-5).
    """
    vis = model.visual
    x = vis.conv1(images).flatten(2).transpose(1, 2)
    cls = vis.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
    x = vis.ln_pre(torch.cat([cls, x], dim=1) + vis.positional_embedding.to(x.dtype))
    heads, mlps = [], []
    for block in vis.transformer.resblocks:
        x, h, m = _block(block, x)
        heads.append(h)
        mlps.append(m)
    final = x[:, 0]
    feature = vis.ln_post(final) @ vis.proj
    ln = vis.ln_post
    sigma = (final.var(-1, unbiased=False, keepdim=True) + ln.eps).sqrt().detach()
    norm = feature.norm(dim=-1, keepdim=True).detach().clamp_min(1e-8)

    def lin(c: Tensor) -> Tensor:  # (..., D) -> (..., e), unit-feature units
        return (c - c.mean(-1, keepdim=True)) * ln.weight @ vis.proj

    denom = sigma * norm  # (B, 1)
    heads_e = lin(torch.stack(heads, 1)) / denom.view(-1, 1, 1, 1)  # (B, L, H, e)
    mlps_e = lin(torch.stack(mlps, 1)) / denom.view(-1, 1, 1)  # (B, L, e)
    rest = feature / norm - heads_e.sum((1, 2)) - mlps_e.sum(1)
    return Direct(feature, heads_e, mlps_e, rest)


def balanced_weights(y: Tensor) -> Tensor:
    """``(n,)`` weights summing to 1 in which every class present weighs the same."""
    counts = torch.bincount(y)
    present = (counts > 0).sum()
    return 1.0 / (present * counts[y]).float()


def margins(comp: Tensor, text: Tensor, y: Tensor) -> Tensor:
    """``(n, K)`` margins ``l[y] − mean_{c≠y} l[c]`` of components ``comp`` ``(n, K, e)``
    against class texts ``text`` ``(C, e)``."""
    logits = comp @ text.T  # (n, K, C)
    own = logits.gather(2, y.view(-1, 1, 1).expand(-1, logits.shape[1], 1)).squeeze(2)
    return own - (logits.sum(2) - own) / (text.shape[0] - 1)


def factor_rows(
    factor: str, labels: dict[str, np.ndarray], pair: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, y)``: the rows a factor's terms use and their classes (module doc)."""
    if factor == "bird":
        rows = np.flatnonzero((pair == "bird") & (labels["bird"] >= 0))
        return rows, labels["bird"][rows]
    key = "unsafe" if factor == "unsafe" else factor
    rows = np.flatnonzero(labels[key] >= 0)
    return rows, labels[key][rows]


def component_table(direct: Direct) -> Tensor:
    """``(B, L·H + L, e)``: every head (layer-major), then every MLP."""
    b = direct.heads.shape[0]
    return torch.cat([direct.heads.reshape(b, -1, direct.heads.shape[-1]), direct.mlps], dim=1)


def assigned_index(assigned: tuple[tuple[int, int], ...], n_heads: int) -> list[int]:
    """Indices into :func:`component_table` of assigned ``(layer, head)`` pairs."""
    return [layer * n_heads + head for layer, head in assigned]


@dataclass
class Gates:
    """Per factor, an EMA of the assigned heads' balanced accuracy; ``open`` once it reaches
    the gate (and from then on)."""

    gate: float
    momentum: float = 0.9
    ema: dict[str, float] = field(default_factory=dict)
    opened: dict[str, bool] = field(default_factory=dict)

    def update(self, factor: str, acc: float) -> bool:
        prev = self.ema.get(factor)
        self.ema[factor] = acc if prev is None else self.momentum * prev + (1 - self.momentum) * acc
        if self.ema[factor] >= self.gate:
            self.opened[factor] = True
        return self.opened.get(factor, False)

    def state(self) -> dict[str, object]:
        return {"ema": dict(self.ema), "opened": dict(self.opened)}

    def load(self, state: dict) -> None:
        self.ema, self.opened = dict(state.get("ema", {})), dict(state.get("opened", {}))


def routing_loss(
    direct: Direct, labels: dict[str, np.ndarray], pair: np.ndarray, texts: dict[str, Tensor],
    assignment: dict[str, tuple[tuple[int, int], ...]], *, scale: float, penalty: float,
    gates: Gates,
) -> tuple[Tensor, dict[str, float]]:
    """``Σ_f ce_f + penalty · Σ_f [gate_f open] · pen_f`` (module doc) and a record per factor
    (``ce``, ``pen``, ``acc`` of the assigned heads, ``share`` of their margin, ``gate``)."""
    comps = component_table(direct)
    n_heads = direct.heads.shape[2]
    total = comps.new_zeros(())
    record: dict[str, float] = {}
    for factor, assigned in assignment.items():
        rows, y = factor_rows(factor, labels, pair)
        if len(rows) < 2 or len(np.unique(y)) < 2:
            continue
        idx = torch.as_tensor(rows)
        yt = torch.as_tensor(y)
        w = balanced_weights(yt)
        text = texts[factor]
        a_idx = assigned_index(assigned, n_heads)
        own = comps[idx][:, a_idx].sum(1)  # (n, e)
        logits = scale * own @ text.T
        ce = (w * F.cross_entropy(logits, yt, reduction="none")).sum()
        m = (w[:, None] * margins(comps[idx], text, yt)).sum(0)  # (K,)
        mask = torch.zeros(len(m), dtype=torch.bool)
        mask[a_idx] = True
        others = F.relu(m[~mask]).sum()
        pen = others / (F.relu(m[mask].sum()) + others + 1e-6)
        acc = float((w * (logits.detach().argmax(1) == yt).float()).sum())
        open_ = gates.update(factor, acc)
        total = total + ce + (penalty * pen if open_ else 0.0)
        md = m.detach()
        share = float(md[mask].sum() / md.sum()) if float(md.sum()) != 0 else float("nan")
        record.update({f"{factor}/ce": round(ce.item(), 4), f"{factor}/pen": round(float(pen.detach()), 4),
                       f"{factor}/acc": round(acc, 3), f"{factor}/share": round(share, 3),
                       f"{factor}/gate": int(open_)})
    return total, record
