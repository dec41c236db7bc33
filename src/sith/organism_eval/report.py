"""What ``sith organism eval`` prints for the twin test (:mod:`sith.organism_eval.twintest`).

Per image seed: first the per-factor headline (trained score, the strength-matched nulls from
other heads and from the same head, the held-out ceiling, the naming share, the lead heads and
the two verdicts), then every row of each pool, the per-factor table and the overall verdict;
a legend closes it.
"""

from __future__ import annotations

from typing import Any

from sith.organism_eval.twins import TWIN_FACTORS
from sith.organism_eval.twintest import TRAINED

HEADLINE_LEGEND = (
    "  trained = the explanations' twin AUC on the factor; null: other heads / null: same head = the same "
    "explanations scored on\n"
    "  random directions drawn in the component's singular-value band (BAND = {band} neighbouring "
    "indices) of another head of the layer / of its own head;\n"
    "  ceiling = the held-out best single value of the factor per component (chosen on half the pairs, "
    "scored on the other half);\n"
    "  naming share = weight of the lead heads' leading components' explanations on the factor's values "
    "({lead_what});\n"
    "  naming other = the same on every other analysed head; names component = trained - null: other "
    "heads >= {margin};\n"
    "  basis privileged = trained - null: same head >= {margin} (a head that carries one factor cannot "
    "pass it by design: every direction in it is that factor's)."
)

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


def _num(x: Any, width: int) -> str:
    return f"{x:>{width}.3f}" if isinstance(x, float) and x == x else f"{'-':>{width}}"


def format_headline(block: dict[str, Any]) -> str:
    """The per-factor table: trained, null: other heads, null: same head, ceiling, naming share."""
    cols = (("factor", 10), ("comps", 6), ("trained", 9), ("null: other heads", 19), ("null: same head", 17),
            ("ceiling", 9), ("naming share", 14), ("naming other", 14), ("names component", 17),
            ("basis privileged", 18))
    head = "".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(cols))
    lines = [head, "-" * len(head)]
    for f, r in block["per_factor"].items():
        cells = [f"{f:<10}", f"{r['components']:>6}", _num(r["trained"], 9), _num(r["null_other_heads"], 19),
                 _num(r["null_same_head"], 17), _num(r["ceiling"], 9), _num(r.get("naming_share"), 14),
                 _num(r.get("naming_share_other_heads"), 14), f"{r['names_component']:>17}",
                 f"{r['basis_privileged']:>18}"]
        lines.append("".join(cells))
    leads = [f"{f} " + "+".join(f"L{lh[0]}H{lh[1]}" for lh in r["heads"]) + " ("
             + "+".join(f"{s:.2f}" for s in r["margin_share"]) + ")"
             for f, r in block["per_factor"].items() if r.get("heads")]
    if leads:
        lines.append("lead heads (share of the factor's direct margin): " + ", ".join(leads))
    return "\n".join(lines)


def format_twin_test(res: dict[str, Any]) -> str:
    """What ``sith organism eval`` prints for the twin test."""
    out = []
    for d in res["draws"]:
        n = d["default_pool"]["rows"][TRAINED]["components"]
        out.append(f"twin test (layers {res['layers']}, {n} components, {res['n_pairs']} pairs per factor, "
                   f"image seed {d['image_seed']}, null seed {res['null_seed']})")
        p = d["default_pool"]
        out.append("per factor, default pool: twin score of the trained explanations beside "
                   f"strength-matched random directions (image seed {d['image_seed']})")
        out += [format_headline(p), ""]
        out.append(format_pool(p, f"default pool ({p['pool_size']}, {p['naming_concepts']} world)"))
        if "world_pool" in d:
            w = d["world_pool"]
            out += ["", format_pool(w, f"world pool ({w['pool_size']})")]
        out.append("")
    out.append(LEGEND.format(right=res["right"], margin=res["margin"], k=res["min_components"]))
    lead_what = ("the heads the model assigns to the factor" if res.get("assigned") else
                 f"no assignment recorded: the {res['lead_heads']} analysed heads with the largest share "
                 f"of the factor's direct margin,\n  {res['lead_components']} components each by "
                 "direct margin")
    out.append(HEADLINE_LEGEND.format(band=res["band"], margin=res["margin"], lead_what=lead_what))
    return "\n".join(out)
