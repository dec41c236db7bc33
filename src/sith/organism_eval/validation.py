"""Every explanation metric beside its null baselines.

:func:`validate` runs the seed recipe on the trained organism and on the three nulls of
:mod:`sith.organism_eval.nulls`, and reports, per metric, the trained value, each null's value
and whether the metric *separates* them (``MARGIN``; a metric that does not is flagged
``does not separate`` and must not be used to choose defaults):

* with ``grounded``: the grounded AUC / share of AUC ≥ 0.75 / top-20 precision lift
  (precision − base rate) of :mod:`sith.organism_eval.grounded`, for both naming rules;
* with ``faithful``: the faithfulness table of :mod:`sith.organism_eval.faithfulness`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sith.organism_eval.faithfulness import faithfulness, format_faithfulness
from sith.organism_eval.grounded import (
    AUC_GOOD,
    GROUND_SEED,
    RULES,
    SHARE,
    WorldActivations,
    concept_factors,
    flatten,
    grounded_report,
    polarity_of,
    world_activations,
)
from sith.organism_eval.nulls import (
    MARGIN,
    NULL_SEED,
    NULLS,
    permutation,
    random_directions,
    separates,
    untrained_workspace,
)

GROUNDED = ("mean_auc", "share_auc_good", "precision_lift", "grounded_recall")
TRAINED = "trained"


@dataclass(frozen=True)
class Options:
    """What :func:`validate` computes.

    Attributes:
        grounded: grounded AUC / precision on ``n_images`` fresh world images (seed ``image_seed``).
        faithful: the faithfulness table (zero-shot on ``n_zeroshot`` images per factor).
        share: the ``share`` naming rule's weight share; seed: every null's seed.
    """

    grounded: bool = False
    faithful: bool = False
    n_images: int = 1000
    image_seed: int = GROUND_SEED
    n_zeroshot: int = 200
    share: float = SHARE
    seed: int = NULL_SEED


def decompositions(ws: Any, request: Any) -> tuple[Any, list[Any]]:
    """The resolved configuration and its layers' decompositions, computed (nothing written)."""
    config = ws.resolve(request)
    atoms = ws.atoms(config)
    return config, [ws.decompose_one(config, layer, atoms) for layer in config.layers]


def separation(rows: dict[str, dict[str, float]], metrics: tuple[str, ...]) -> dict[str, bool]:
    """Per metric: does the trained value beat every null by ``MARGIN``?"""
    return {
        m: separates(rows[TRAINED][m], {k: r[m] for k, r in rows.items() if k != TRAINED}) for m in metrics
    }


def validate(
    ws: Any, request: Any, opts: Options, *, world: WorldActivations | None = None, progress: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The trained organism's seed-recipe metrics beside the three nulls (module doc);
    ``world``: the trained model's grounded activations if already computed (same layers, rank,
    images)."""
    t0 = time.perf_counter()
    config, decs = decompositions(ws, request)
    atoms = ws.atoms(config)
    concepts = ws.encoded(config.dictionary).concepts
    ws_u = untrained_workspace(ws, opts.seed, progress=progress)
    clip_u = ws_u.clip
    config_u, decs_u = decompositions(ws_u, request)
    n = sum(d.num_heads * d.rank for d in decs)
    perm = permutation(n, opts.seed)
    results: dict[str, Any] = {"recipe": config.record(), "margin": MARGIN, "null_seed": opts.seed}
    text = ""
    if opts.grounded:
        mapping = concept_factors(concepts)
        wa = world if world is not None else world_activations(
            ws.clip, list(config.layers), config.rank, n_images=opts.n_images, seed=opts.image_seed,
            progress=progress,
        )
        wa_u = world_activations(clip_u, list(config.layers), config.rank, n_images=opts.n_images,
                                 seed=opts.image_seed, progress=progress)
        ex, ex_u = flatten(decs), flatten(decs_u)
        acts = wa.of(ex.keys, polarity_of(decs))
        rex, racts = random_directions(ws, config, atoms, wa.acts, opts.seed)
        reports = {
            TRAINED: grounded_report(ex, acts, wa.labels, mapping, share=opts.share),
            NULLS[0]: grounded_report(ex_u, wa_u.of(ex_u.keys, polarity_of(decs_u)), wa_u.labels, mapping,
                                      share=opts.share),
            NULLS[1]: grounded_report(ex.permuted(perm), acts, wa.labels, mapping, share=opts.share),
            NULLS[2]: grounded_report(rex, racts.numpy(), wa.labels, mapping, share=opts.share),
        }
        per_rule = {
            rule: {k: _with_lift(r["summary"][rule]) for k, r in reports.items()} for rule in RULES
        }
        results["grounded"] = {
            "n_images": opts.n_images,
            "image_seed": opts.image_seed,
            "share": opts.share,
            "auc_good": AUC_GOOD,
            "rules": {
                rule: {"rows": rows, "separates": separation(rows, GROUNDED)}
                for rule, rows in per_rule.items()
            },
            "items": {k: r["items"] for k, r in reports.items()},
        }
        text += "\n\n" + format_grounded(results["grounded"])
    if opts.faithful:
        ex = flatten(decs)
        rows = faithfulness(ws, ex, polarity_of(decs), atoms, perm, n=opts.n_zeroshot, seed=opts.seed,
                            image_mean=ws.image_mean() if config.image_mean else None)
        results["faithfulness"] = {"n_per_factor": opts.n_zeroshot, "components": len(ex.keys), "rows": rows}
        text += (f"\n\nfaithfulness: {len(ex.keys)} analysed components' write directions replaced "
                 f"(zero-shot accuracy, n = {opts.n_zeroshot} per factor)\n" + format_faithfulness(rows))
    results["seconds"] = round(time.perf_counter() - t0, 1)
    return text, results


def _with_lift(s: dict[str, Any]) -> dict[str, Any]:
    lift = s["mean_precision"] - s["mean_base_rate"] if s["count"] else float("nan")
    return {**s, "precision_lift": lift}


def _flag(ok: bool) -> str:
    return "separates" if ok else "does not separate"


def format_grounded(g: dict[str, Any]) -> str:
    lines = [f"grounded validation on {g['n_images']} fresh world images (seed {g['image_seed']}); "
             f"AUC of the explained-sign activation, images with vs without the named value"]
    for rule, block in g["rules"].items():
        what = "top concept" if rule == "top" else f"any concept with weight share >= {g['share']}"
        head = f"{'named by ' + what:<46}{'n':>5}{'mean AUC':>10}{'AUC>=' + str(g['auc_good']):>10}" \
               f"{'prec@20':>9}{'base':>7}{'lift':>7}{'g-recall':>10}"
        lines += ["", head, "-" * len(head)]
        for name, r in block["rows"].items():
            lines.append(f"{name:<46}{r['count']:>5}{r['mean_auc']:>10.3f}{r['share_auc_good']:>10.3f}"
                         f"{r['mean_precision']:>9.3f}{r['mean_base_rate']:>7.3f}{r['precision_lift']:>7.3f}"
                         f"{r['grounded_recall']:>10.3f}")
        sep = block["separates"]
        lines.append(f"trained vs nulls (margin {MARGIN}): mean AUC {_flag(sep['mean_auc'])}; AUC >= "
                     f"{g['auc_good']} share {_flag(sep['share_auc_good'])}; precision lift "
                     f"{_flag(sep['precision_lift'])}; grounded recall {_flag(sep['grounded_recall'])}")
    lines.append(
        "# n: components whose explanation names a world value; mean AUC: of each one's activation, "
        "images with vs without\n# the value; AUC>=: share of them at or above it; prec@20: share of "
        "its top-20 images showing the value; base:\n# that value's share of all images; lift: "
        "prec@20 - base; g-recall: share of the learned factors' values named by a component with AUC >= "
        f"{g['auc_good']}"
    )
    return "\n".join(lines)

