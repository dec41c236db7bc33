"""The twin test of ``sith organism eval`` (issue 25): every component's explanation against
counterfactual twins (:mod:`sith.organism.twins`), beside five nulls fixed before measuring.

Nulls (each scored exactly like the trained explanations):

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
* **untrained vision** — the organism with its vision tower re-initialised
  (:func:`sith.organism.nulls.untrained_vision`), decomposed and explained the same way.

Acceptance (docs/organism.md, fixed before measuring): the twin test *separates* when the
trained mean twin score beats every null's by at least ``MARGIN`` on every image seed;
per factor the same rule with at least ``MIN_COMPONENTS`` components per row.

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
from sith.organism.grounded import Explained, flatten, polarity_of
from sith.organism.inputs import organism_workspace
from sith.organism.nulls import MARGIN, NULL_SEED, permutation, untrained_vision
from sith.organism.twins import (
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
from sith.organism.vocab import FACTORS, SPURIOUS_CLASSES

TRAINED = "trained"
NULLS = ("same head", "shuffled", "random world concepts", "random write directions", "untrained vision")
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


def write_directions(ws: Any, config: Any, atoms: torch.Tensor, seed: int
                     ) -> tuple[Explained, dict[int, torch.Tensor]]:
    """The random-write-direction null: explanations and per layer ``g (H, rank, rank)``
    (direction ``j`` of head ``h`` is ``Σ_i g[h, j, i] v_i``)."""
    gen = torch.Generator().manual_seed(seed)
    mean = ws.image_mean() if config.image_mean else None
    keys, codes, coefs = [], [], {}
    for layer in config.layers:
        Vh = layer_svd(ws.weights, layer, fold_ln=True).Vh[:, : config.rank, :].double()  # (H, r, d)
        H, r, d = Vh.shape
        g = unit(torch.randn(H, r, r, generator=gen, dtype=torch.float64))
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


def pool_rows(ws: Any, ws_u: Any, request: Any, acts: dict, acts_u: dict, seed: int) -> dict[str, Any]:
    """Every row (trained + nulls) of one pool (``request.dictionary``) on one twin draw."""
    config, atoms, ex, sign = _explain(ws, request)
    _, _, ex_u, sign_u = _explain(ws_u, request)
    parsed = parse_pool(list(ws.encoded(config.dictionary).concepts))
    rex, coefs = write_directions(ws, config, atoms, seed)
    tables = factor_tables(ex.keys, sign, acts)
    runs = {
        TRAINED: (tables, ex),
        NULLS[0]: (tables, ex.permuted(head_derangement(ex.keys, seed))),
        NULLS[1]: (tables, ex.permuted(permutation(len(ex.keys), seed))),
        NULLS[2]: (tables, random_concepts(ex, parsed, seed)),
        NULLS[3]: (factor_tables(rex.keys, None, along(acts, coefs)), rex),
        NULLS[4]: (factor_tables(ex_u.keys, sign_u, acts_u), ex_u),
    }
    rows, per_component = {}, []
    for name, (tab, e) in runs.items():
        scored = score_explanations(tab, parsed, e.scores, e.indices)
        rows[name] = summarise(scored)
        rows[name]["unlearned_share"] = unlearned_share(e, parsed)
        if name == TRAINED:
            per_component = [[*k, None if s != s else round(float(s), 4), round(float(c), 4)]
                             for k, s, c in zip(ex.keys, scored["score"], scored["coverage"])]
    return {"dictionary": config.dictionary, "pool_size": len(parsed),
            "naming_concepts": sum(bool(p) for p in parsed), "rows": rows, "verdict": verdict(rows),
            "trained_components": {"columns": ["layer", "head", "index", "twin_score", "coverage"],
                                   "rows": per_component}}


def verdict(rows: dict[str, dict[str, Any]], margin: float = MARGIN) -> dict[str, Any]:
    """Separation of the trained twin score from every null, overall and per factor."""
    def sep(get: Any) -> str:
        t = get(rows[TRAINED])
        if t is None:
            return "too few"
        nulls = [get(r) for k, r in rows.items() if k != TRAINED]
        return "separates" if all(v is None or t - v >= margin for v in nulls) else "does not separate"

    def factor(f: str) -> Any:
        return lambda r: (r["per_factor"][f]["twin_auc"] if f in r["per_factor"]
                          and r["per_factor"][f]["components"] >= MIN_COMPONENTS else None)

    return {"overall": sep(lambda r: r["twin_score"] if r["named"] else None),
            "per_factor": {f: sep(factor(f)) for f in TWIN_FACTORS}}


def run_twin_test(ws: Any, request: Any, opts: TwinOptions, *, progress: bool = False) -> dict[str, Any]:
    """The twin test of the seed recipe of ``request`` on every seed of ``opts`` (module doc)."""
    config = ws.resolve(request)
    layers, rank = list(config.layers), config.rank
    ws_u = organism_workspace(untrained_vision(ws.clip, opts.null_seed), data_dir=ws.data_dir,
                              device=ws.device, progress=progress)
    world_request = None
    if opts.plausible:
        concepts = list(ws.encoded(config.dictionary).concepts)
        world_request = replace(request, dictionary=_pool_file(ws, concepts))
    draws = []
    for seed in opts.seeds:
        pairs = {f: twin_pairs(f, opts.n_pairs, seed) for f in TWIN_FACTORS}
        acts = {f: (p, twin_activations(ws.clip, layers, rank, p.images)) for f, p in pairs.items()}
        acts_u = {f: (p, twin_activations(ws_u.clip, layers, rank, p.images)) for f, p in pairs.items()}
        draw = {"image_seed": seed,
                "default_pool": pool_rows(ws, ws_u, request, acts, acts_u, opts.null_seed)}
        if world_request is not None:
            draw["world_pool"] = pool_rows(ws, ws_u, world_request, acts, acts_u, opts.null_seed)
        draws.append(draw)
    accepted = all(d["default_pool"]["verdict"]["overall"] == "separates" for d in draws)
    return {"recipe": config.record(), "layers": layers, "n_pairs": opts.n_pairs, "seeds": list(opts.seeds),
            "null_seed": opts.null_seed, "margin": MARGIN, "right": RIGHT, "min_components": MIN_COMPONENTS,
            "draws": draws, "separates_on_every_seed": accepted}


LEGEND = (
    "legend: twin AUC = P(switching the named value on, all else fixed, raises the component's "
    "activation); 0.5 = no response.\n"
    "  twin score = the explanation's weight-averaged twin AUC over the world values its concepts name "
    "(all K slots, phrases parsed);\n"
    "  named = components whose explanation names a world value (the rest: 'nothing', listed, never "
    "dropped); coverage = named slots' weight share;\n"
    "  right = named weight with twin AUC >= {right}; unlearned = weight on concepts that name nothing; "
    "per factor: weighted twin AUC (components).\n"
    "  separates = trained beats every null by >= {margin} (per factor: >= {k} components naming it)."
)


def format_pool(block: dict[str, Any], title: str) -> str:
    """One pool's rows, per-factor table and verdict."""
    head = f"{title:<26}{'named':>9}{'nothing':>9}{'coverage':>10}{'twin score [95% CI]':>24}{'right':>7}" \
           f"{'unlearned':>11}"
    lines = [head, "-" * len(head)]
    for name, r in block["rows"].items():
        ci = f"{r['twin_score']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]"
        lines.append(f"{name:<26}{str(r['named']) + '/' + str(r['components']):>9}{r['names_nothing']:>9}"
                     f"{r['weight_coverage']:>10.2f}{ci:>24}{r['right_share']:>7.3f}{r['unlearned_share']:>11.3f}")
    fhead = f"{'per factor: twin AUC (n)':<26}" + "".join(f"{f:>12}" for f in TWIN_FACTORS)
    lines += ["", fhead, "-" * len(fhead)]
    for name, r in block["rows"].items():
        cells = [f"{p['twin_auc']:.2f} ({p['components']})" if (p := r["per_factor"].get(f)) else "-"
                 for f in TWIN_FACTORS]
        lines.append(f"{name:<26}" + "".join(f"{c:>12}" for c in cells))
    v = block["verdict"]
    flags = "".join(f"{_short(v['per_factor'][f]):>12}" for f in TWIN_FACTORS)
    lines.append(f"{'trained vs nulls':<26}" + flags)
    t = block["rows"][TRAINED]["twin_score"]
    gaps = ", ".join(f"{k} {t - r['twin_score']:+.3f}" for k, r in block["rows"].items() if k != TRAINED)
    lines.append(f"overall: {v['overall']} (trained minus each null: {gaps})")
    return "\n".join(lines)


def _short(verdict: str) -> str:
    return {"separates": "separates", "does not separate": "no", "too few": "too few"}[verdict]


def format_twin_test(res: dict[str, Any]) -> str:
    """What ``sith organism eval`` prints for the twin test."""
    out = []
    for d in res["draws"]:
        n = d["default_pool"]["rows"][TRAINED]["components"]
        out.append(f"twin test (layers {res['layers']}, {n} components, {res['n_pairs']} pairs per factor, "
                   f"image seed {d['image_seed']}, null seed {res['null_seed']})")
        p = d["default_pool"]
        out.append(format_pool(p, f"default pool ({p['pool_size']}, {p['naming_concepts']} world)"))
        if "world_pool" in d:
            w = d["world_pool"]
            out += ["", format_pool(w, f"world pool ({w['pool_size']})")]
        out.append("")
    out.append(LEGEND.format(right=res["right"], margin=res["margin"], k=res["min_components"]))
    return "\n".join(out)
