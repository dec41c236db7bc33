"""The twin test of ``sith organism eval``: every component's explanation against
counterfactual twins (:mod:`sith.organism_eval.twins`), beside nulls fixed before measuring,
the held-out single-value ceiling and the naming share (:mod:`sith.organism_eval.margin`).

Headline nulls, matched in strength (:mod:`sith.organism_eval.fair`): each component's own
explanation scored against the twins of a random direction drawn in the same singular-value
band (4 neighbouring indices) of

* **other heads** of the same layer — does the explanation name what *this* component does?
* **the same head** — is the singular basis privileged inside a head? (A head that carries one
  factor cannot pass this by design: every direction of its write space is that factor's.)

The other nulls (each scored exactly like the trained explanations):

* **same head** — each component gets the explanation of another component of the same head
  (a random cyclic derangement within each head, seed ``null_seed``);
* **shuffled** — explanations permuted across all analysed components;
* **random world concepts** — each used slot's concept replaced by a concept drawn uniformly
  from the pool's concepts that name a world value (same weights): what a plausible but
  random explanation scores, and the chance rate of a wrong pick;
* **random write directions** — per (layer, head, index) slot a random unit direction
  ``r = Σ_i g_i v_i`` in the head's write space (``g`` Gaussian), explained through docs/method.md
  §3 + the seed solver like a singular vector; its activation is the head's output along
  ``r``, ``Σ_i g_i act_i``;
* **band directions, explained** — per component a random unit direction in its own head's
  singular-value band, explained through docs/method.md §3 + the seed solver and scored on its
  own activation (the strength-matched version of the previous row);
* **untrained vision** — the organism with its vision tower re-initialised
  (:func:`sith.organism_eval.nulls.untrained_vision`), decomposed and explained the same way.

Acceptance (docs/organism.md, fixed before measuring): per factor (at least ``MIN_COMPONENTS``
components naming it) an explanation *names its component* when the trained score beats the
other-heads strength-matched null by at least ``MARGIN`` on every image seed; the same-head
null is reported beside it (*basis privileged*), never required. The older overall rule — the
trained mean beats every null by ``MARGIN`` — is kept as ``verdict``.

**Plausible distractors.** Besides the default pool (whose 400 frequent-English words the
text tower never learned) the same components are explained with the *world pool*
(:func:`world_pool`): only concepts the text tower saw in training captions — single world
words, colour/size × shape, shape and bird × background, counts, shape × position — so every
pick names world values and most are wrong for a given component. Reported: the share of the
explanation weight on concepts that name nothing (default pool), and for both pools the
*right-pick share* (weight on items with twin AUC ≥ ``RIGHT``) beside the nulls.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sith.decompose import solve
from sith.factor import joint_targets, layer_svd, unit
from sith.io import save_text
from sith.organism.captions import BACKGROUND_PREP, POSITION_PHRASES
from sith.organism.model import recorded_world
from sith.organism.vocab import FACTORS, SPURIOUS_CLASSES
from sith.organism_eval.fair import BAND, along_band, band_coefs, held_out_best
from sith.organism_eval.grounded import Explained, flatten, polarity_of
from sith.organism_eval.margin import (
    LEAD_COMPONENTS,
    LEAD_HEADS,
    DirectMargin,
    direct_margins,
    factor_naming,
    final_residual,
    margin_prompts,
    recorded_assignment,
)
from sith.organism_eval.nulls import MARGIN, NULL_SEED, permutation, untrained_workspace
from sith.organism_eval.twins import (
    N_PAIRS,
    RIGHT,
    TWIN_FACTORS,
    TWIN_SEED,
    parse_pool,
    score_explanations,
    summarise,
    twin_activations,
    twin_pairs,
    twin_table,
)

TRAINED = "trained"
#: The strength-matched nulls of the headline table (module doc).
OTHER_HEADS, SAME_HEAD_BAND = "band-matched, other heads", "band-matched, same head"
NULLS = (OTHER_HEADS, SAME_HEAD_BAND, "same head", "shuffled", "random world concepts",
         "random write directions", "band directions, explained", "untrained vision")
#: A per-factor row is judged only with at least this many components naming the factor.
MIN_COMPONENTS = 5


@dataclass(frozen=True)
class TwinOptions:
    """``n_pairs`` twin pairs per factor, image ``seeds``, the nulls' ``null_seed``,
    ``plausible``: also the world-pool (plausible distractor) explanations."""

    n_pairs: int = N_PAIRS
    seeds: tuple[int, ...] = (TWIN_SEED,)
    null_seed: int = NULL_SEED
    plausible: bool = True
    #: factor -> ``(layer, head)`` pairs a model assigns to it (None: what the organism's config
    #: records, :func:`~sith.organism_eval.margin.recorded_assignment`; else the lead heads).
    assigned: dict[str, tuple[tuple[int, int], ...]] | None = None


def world_pool(concepts: list[str]) -> list[str]:
    """The world pool: ``concepts`` that name a world value, plus caption phrases the text tower
    was trained on: shape and bird × background (*star in the forest*), two/three × shape
    (*three hearts*), shape × position (*circle on the left*). Order fixed, no duplicates."""
    named = [c for c, p in zip(concepts, parse_pool(concepts)) if p]
    extra = [f"{o} {BACKGROUND_PREP[b]} {b}" for o in (*FACTORS["shape"], *SPURIOUS_CLASSES)
             for b in FACTORS["background"]]
    extra += [f"{n} {s}{'es' if s.endswith(('s', 'x')) else 's'}" for n in ("two", "three")
              for s in FACTORS["shape"]]
    extra += [f"{s} {POSITION_PHRASES[p][0]}" for s in FACTORS["shape"] for p in FACTORS["position"]]
    return list(dict.fromkeys(named + extra))


def head_derangement(keys: list[tuple[int, int, int]], seed: int = NULL_SEED) -> torch.Tensor:
    """``perm`` with ``perm[j]`` another component of ``j``'s head (random cyclic order per head)."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.arange(len(keys))
    heads: dict[tuple[int, int], list[int]] = {}
    for j, (layer, head, _) in enumerate(keys):
        heads.setdefault((layer, head), []).append(j)
    for rows in heads.values():
        order = [rows[i] for i in torch.randperm(len(rows), generator=g).tolist()]
        for k, j in enumerate(order):
            perm[j] = order[(k + 1) % len(order)]
    return perm


def random_concepts(ex: Explained, parsed: list[list[Any]], seed: int = NULL_SEED) -> Explained:
    """Every used slot's concept replaced by a uniform draw among the naming concepts."""
    pool = torch.tensor([j for j, p in enumerate(parsed) if p])
    g = torch.Generator().manual_seed(seed)
    draw = pool[torch.randint(0, len(pool), ex.indices.shape, generator=g)]
    return Explained(ex.keys, ex.scores, torch.where(ex.indices >= 0, draw, ex.indices))


def write_directions(ws: Any, config: Any, atoms: torch.Tensor, seed: int,
                     band: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None,
                     ) -> tuple[Explained, dict[int, torch.Tensor]]:
    """The random-write-direction null: explanations and per layer ``g (H, rank, rank)``
    (direction ``j`` of head ``h`` is ``Σ_i g[h, j, i] v_i``); with ``band`` (layer -> the
    same-head ``(src, g)`` of :func:`~sith.organism_eval.fair.band_coefs`) those directions."""
    gen = torch.Generator().manual_seed(seed)
    mean = ws.image_mean() if config.image_mean else None
    keys, codes, coefs = [], [], {}
    for layer in config.layers:
        Vh = layer_svd(ws.weights, layer, fold_ln=True).Vh[:, : config.rank, :].double()  # (H, r, d)
        H, r, d = Vh.shape
        g = unit(torch.randn(H, r, r, generator=gen, dtype=torch.float64)) if band is None else band[layer][1]
        dirs = torch.einsum("hji,hid->hjd", g, Vh).reshape(H * r, d)
        targets = joint_targets(ws.weights, dirs, mean)
        codes.append(solve(targets, atoms, config.sparsity, method=config.method))
        coefs[layer] = g
        keys += [(layer, h, j) for h in range(H) for j in range(r)]
    scores = torch.cat([c.weights.cpu() for c in codes])
    ex = Explained(keys, scores, torch.cat([c.indices.cpu() for c in codes]))
    return ex, coefs


def factor_tables(keys: list[tuple[int, int, int]], sign: torch.Tensor | None,
                  acts: dict[str, tuple[Any, dict[int, torch.Tensor]]]) -> dict[str, np.ndarray]:
    """factor -> ``(N, n_values)`` twin AUC of components ``keys`` (activations times ``sign``)."""
    out = {}
    for f, (pairs, layer_acts) in acts.items():
        cols = torch.stack([layer_acts[layer][:, h, i] for layer, h, i in keys], 1).double()
        if sign is not None:
            cols = cols * sign.double()[None]
        n = len(pairs.a)
        out[f] = twin_table((cols[n:] - cols[:n]).numpy(), pairs)
    return out


def ceiling_tables(keys: list[tuple[int, int, int]], sign: torch.Tensor | None,
                   acts: dict[str, tuple[Any, dict[int, torch.Tensor]]]) -> dict[str, np.ndarray]:
    """factor -> ``(N, n_values)``: every value of a component carries its held-out best-value
    twin AUC (:func:`~sith.organism_eval.fair.held_out_best`), so scoring an explanation on these
    tables replaces each named value by the best value of its factor (the ceiling)."""
    out = {}
    for f, (pairs, layer_acts) in acts.items():
        cols = torch.stack([layer_acts[layer][:, h, i] for layer, h, i in keys], 1).double()
        if sign is not None:
            cols = cols * sign.double()[None]
        n, k = len(pairs.a), len(TWIN_FACTORS[f])
        best = held_out_best((cols[n:] - cols[:n]).numpy(), pairs.a, pairs.b, k)
        out[f] = np.repeat(best[:, None], k, 1)
    return out


def along_bands(acts: dict[str, Any], coefs: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, Any]:
    """Activations along strength-matched directions (layer -> ``(src, g)``)."""
    return {f: (p, {layer: along_band(a, *coefs[layer]) for layer, a in la.items()})
            for f, (p, la) in acts.items()}


def along(acts: dict[str, tuple[Any, dict[int, torch.Tensor]]], coefs: dict[int, torch.Tensor]
          ) -> dict[str, tuple[Any, dict[int, torch.Tensor]]]:
    """Activations along the random write directions: ``Σ_i g[h, j, i] act_i``."""
    return {f: (p, {layer: torch.einsum("nhi,hji->nhj", a.double(), coefs[layer]).float()
                    for layer, a in la.items()}) for f, (p, la) in acts.items()}


def unlearned_share(ex: Explained, parsed: list[list[Any]]) -> float:
    """Share of the explanations' total weight on concepts that name no world value."""
    w = ex.scores.abs().double()
    none = torch.tensor([not p for p in parsed])[ex.indices.clamp_min(0)] & (ex.indices >= 0)
    return float((w * none).sum() / w.sum())


def _pool_file(ws: Any, concepts: list[str]) -> str:
    path = Path(ws.data_dir) / "organism-world-pool.txt"
    text = "\n".join(world_pool(concepts)) + "\n"
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_text(text, path)
    return str(path)


def _explain(ws: Any, request: Any) -> tuple[Any, Any, Explained, torch.Tensor]:
    config = ws.resolve(request)
    atoms = ws.atoms(config)
    decs = [ws.decompose_one(config, layer, atoms) for layer in config.layers]
    return config, atoms, flatten(decs), polarity_of(decs)


@dataclass(frozen=True)
class Draw:
    """One image seed's twin activations and what does not depend on the pool.

    Attributes:
        acts, acts_u: factor -> ``(pairs, {layer: (2n, H, rank)})`` of the trained / untrained model.
        bands: ``OTHER_HEADS`` / ``SAME_HEAD_BAND`` -> layer -> ``(src, g)`` (:func:`band_coefs`).
        margins: factor -> :class:`~sith.organism_eval.margin.DirectMargin` (factors with prompts).
        seed: the nulls' seed.
    """

    acts: dict[str, Any]
    acts_u: dict[str, Any]
    bands: dict[str, dict[int, tuple[torch.Tensor, torch.Tensor]]]
    margins: dict[str, DirectMargin]
    seed: int


def pool_rows(ws: Any, ws_u: Any, request: Any, draw: Draw,
              assigned: dict[str, tuple[tuple[int, int], ...]] | None = None) -> dict[str, Any]:
    """Every row (trained + nulls), the ceiling and the per-factor headline of one pool
    (``request.dictionary``) on one twin draw."""
    config, atoms, ex, sign = _explain(ws, request)
    _, _, ex_u, sign_u = _explain(ws_u, request)
    parsed = parse_pool(list(ws.encoded(config.dictionary).concepts))
    seed, acts = draw.seed, draw.acts
    rex, coefs = write_directions(ws, config, atoms, seed)
    bex, _ = write_directions(ws, config, atoms, seed, band=draw.bands[SAME_HEAD_BAND])
    tables = factor_tables(ex.keys, sign, acts)
    same_band = factor_tables(ex.keys, None, along_bands(acts, draw.bands[SAME_HEAD_BAND]))
    runs = {
        TRAINED: (tables, ex),
        OTHER_HEADS: (factor_tables(ex.keys, None, along_bands(acts, draw.bands[OTHER_HEADS])), ex),
        SAME_HEAD_BAND: (same_band, ex),
        "same head": (tables, ex.permuted(head_derangement(ex.keys, seed))),
        "shuffled": (tables, ex.permuted(permutation(len(ex.keys), seed))),
        "random world concepts": (tables, random_concepts(ex, parsed, seed)),
        "random write directions": (factor_tables(rex.keys, None, along(acts, coefs)), rex),
        "band directions, explained": (same_band, bex),
        "untrained vision": (factor_tables(ex_u.keys, sign_u, draw.acts_u), ex_u),
    }
    rows, per_component = {}, []
    for name, (tab, e) in runs.items():
        scored = score_explanations(tab, parsed, e.scores, e.indices)
        rows[name] = summarise(scored)
        rows[name]["unlearned_share"] = unlearned_share(e, parsed)
        if name == TRAINED:
            per_component = [[*k, None if s != s else round(float(s), 4), round(float(c), 4)]
                             for k, s, c in zip(ex.keys, scored["score"], scored["coverage"])]
    ceiling = summarise(score_explanations(ceiling_tables(ex.keys, sign, acts), parsed, ex.scores,
                                           ex.indices))
    naming = {f: factor_naming(m, ex.keys, ex.scores, ex.indices, parsed, f,
                               list(assigned[f]) if assigned and f in assigned else None)
              for f, m in draw.margins.items()}
    return {"dictionary": config.dictionary, "pool_size": len(parsed),
            "naming_concepts": sum(bool(p) for p in parsed), "rows": rows, "ceiling": ceiling,
            "verdict": verdict(rows), "per_factor": headline(rows, ceiling, naming),
            "trained_components": {"columns": ["layer", "head", "index", "twin_score", "coverage"],
                                   "rows": per_component}}


def _factor_auc(row: dict[str, Any], f: str) -> float | None:
    p = row["per_factor"].get(f)
    return p["twin_auc"] if p and p["components"] >= MIN_COMPONENTS else None


def headline(rows: dict[str, dict[str, Any]], ceiling: dict[str, Any], naming: dict[str, dict[str, Any]],
             margin: float = MARGIN) -> dict[str, dict[str, Any]]:
    """Per factor: trained score, the strength-matched nulls, the ceiling, the naming share and
    the two verdicts (*names its component*: trained − other-heads null ≥ ``margin``; *basis
    privileged*: trained − same-head null ≥ ``margin``; "too few" under ``MIN_COMPONENTS``)."""
    out = {}
    for f in TWIN_FACTORS:
        t = rows[TRAINED]["per_factor"].get(f)
        if t is None and f not in naming:
            continue
        trained, other, same = (_factor_auc(rows[k], f) for k in (TRAINED, OTHER_HEADS, SAME_HEAD_BAND))

        def rule(null: float | None, trained: float | None = trained) -> str:
            if trained is None or null is None:
                return "too few"
            return "yes" if trained - null >= margin else "no"

        c = ceiling["per_factor"].get(f)
        out[f] = {"components": t["components"] if t else 0, "trained": trained, "null_other_heads": other,
                  "null_same_head": same, "ceiling": c["twin_auc"] if c else None,
                  **naming.get(f, {}), "names_component": rule(other), "basis_privileged": rule(same)}
    return out


def verdict(rows: dict[str, dict[str, Any]], margin: float = MARGIN) -> dict[str, Any]:
    """Separation of the trained twin score from every null, overall and per factor."""
    def sep(get: Any) -> str:
        t = get(rows[TRAINED])
        if t is None:
            return "too few"
        nulls = [get(r) for k, r in rows.items() if k != TRAINED]
        return "separates" if all(v is None or t - v >= margin for v in nulls) else "does not separate"

    return {"overall": sep(lambda r: r["twin_score"] if r["named"] else None),
            "per_factor": {f: sep(lambda r, f=f: _factor_auc(r, f)) for f in TWIN_FACTORS}}


def draw_margins(ws: Any, layers: list[int], rank: int, acts: dict[str, Any]) -> dict[str, DirectMargin]:
    """factor -> direct margin of every analysed component on the factor's twin images (both
    halves, labels ``a`` then ``b``; factors without prompts left out)."""
    svds = {layer: layer_svd(ws.weights, layer, fold_ln=True) for layer in layers}
    out = {}
    for f, (pairs, layer_acts) in acts.items():
        prompts = margin_prompts(f)
        if prompts is None:
            continue
        resid = final_residual(ws.clip, pairs.images)
        text = ws.clip.encode_text(prompts).float().cpu()
        out[f] = direct_margins(ws.weights, svds, rank, layer_acts, resid, np.concatenate([pairs.a, pairs.b]),
                                text)
    return out


def run_twin_test(ws: Any, request: Any, opts: TwinOptions, *, progress: bool = False) -> dict[str, Any]:
    """The twin test of ``request``'s recipe (the seed's by default) on every seed of ``opts``."""
    config = ws.resolve(request)
    layers, rank = list(config.layers), config.rank
    world = recorded_world(ws.clip.info.model_name, ws.clip.info.pretrained)
    ws_u = untrained_workspace(ws, opts.null_seed, progress=progress)
    world_request = None
    if opts.plausible:
        concepts = list(ws.encoded(config.dictionary).concepts)
        world_request = replace(request, dictionary=_pool_file(ws, concepts))
    assigned = opts.assigned if opts.assigned is not None else recorded_assignment(ws.clip)
    opts = replace(opts, assigned=assigned)
    H = ws.weights.n_heads
    bands = {name: {layer: band_coefs(H, rank, opts.null_seed * 1000 + layer, other_head=name == OTHER_HEADS)
                    for layer in layers} for name in (OTHER_HEADS, SAME_HEAD_BAND)}
    draws = []
    for seed in opts.seeds:
        pairs = {f: twin_pairs(f, opts.n_pairs, seed, world=world) for f in TWIN_FACTORS}
        acts = {f: (p, twin_activations(ws.clip, layers, rank, p.images)) for f, p in pairs.items()}
        acts_u = {f: (p, twin_activations(ws_u.clip, layers, rank, p.images)) for f, p in pairs.items()}
        draw = Draw(acts, acts_u, bands, draw_margins(ws, layers, rank, acts), opts.null_seed)
        out = {"image_seed": seed, "default_pool": pool_rows(ws, ws_u, request, draw, opts.assigned)}
        if world_request is not None:
            out["world_pool"] = pool_rows(ws, ws_u, world_request, draw, opts.assigned)
        draws.append(out)
    accepted = all(d["default_pool"]["verdict"]["overall"] == "separates" for d in draws)
    names = {f: all(d["default_pool"]["per_factor"].get(f, {}).get("names_component") == "yes" for d in draws)
             for f in TWIN_FACTORS}
    return {"recipe": config.record(), "layers": layers, "n_pairs": opts.n_pairs, "seeds": list(opts.seeds),
            "null_seed": opts.null_seed, "margin": MARGIN, "right": RIGHT, "min_components": MIN_COMPONENTS,
            "band": BAND, "lead_heads": LEAD_HEADS, "lead_components": LEAD_COMPONENTS,
            "assigned": None if opts.assigned is None else {f: [list(h) for h in hs]
                                                            for f, hs in opts.assigned.items()},
            "draws": draws, "separates_on_every_seed": accepted, "names_component_on_every_seed": names}
