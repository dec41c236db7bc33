"""``sith organism eval``: SITH's explanations of the organism against its world's ground truth.

By default the **twin test** (:mod:`sith.organism_eval.twintest`): every analysed component's whole
explanation scored against counterfactual twin images, beside five nulls, per factor, with
coverage, on the default pool and on a pool of plausible (learned, world) distractors.

On request: ``legacy`` — the retired static metrics of :mod:`sith.organism_eval.scoring` (recall,
purity, fidelity, coherence) per decomposition method (and with ``settings`` per project
option, ``docs/choices.md``) beside three nulls (:mod:`sith.organism_eval.validation`; none of them
separates trained from null); the grounded validation (AUC of top-concept-named components on
fresh world images, :mod:`sith.organism_eval.grounded`); faithfulness (:mod:`sith.organism_eval.faithfulness`).
"""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

from sith.decompose import default_layers
from sith.load import load_clip
from sith.load.clip import default_names
from sith.organism_eval.grounded import (
    WorldActivations,
    concept_factors,
    flatten,
    grounded_report,
    polarity_of,
    world_activations,
)
from sith.organism.inputs import organism_workspace
from sith.organism_eval.scoring import LEARNED, score, top_concepts
from sith.organism_eval.twintest import TwinOptions, format_twin_test, run_twin_test
from sith.organism_eval.validation import Options, validate
from sith.organism.world import FACTORS
from sith.pipeline import DecompositionConfig

__all__ = [
    "DEFAULT_METHODS", "LEARNED", "SETTINGS", "Options", "TwinOptions", "concept_factors", "evaluate",
    "evaluate_config",
    "format_rows", "score", "top_concepts",
]

#: The twin test ``evaluate`` runs unless told otherwise.
DEFAULT_TWINS = TwinOptions()
DEFAULT_METHODS = ("topk", "mp", "omp", "comp-0.1", "comp-0.3", "comp-0.5", "ncomp-0.3", "somp", "lasso")


def evaluate_config(ws: Any, request: Any, world: WorldActivations | None = None) -> dict[str, Any]:
    """One :func:`score` row for a decomposition configuration (nothing written); with
    ``world`` (grounded activations of the same layers and rank) also its grounded summary
    per naming rule (fold-ln right vectors only: the activations are theirs)."""
    config = ws.resolve(request)
    atoms = ws.atoms(config)
    decs = [ws.decompose_one(config, layer, atoms) for layer in config.layers]
    seed_atoms = ws.atoms(config.resolved(atoms="center"))
    row = {
        "layers": list(config.layers),
        "options": config.options(),
        **score(decs, ws.encoded().concepts, seed_atoms),
    }
    if world is not None and config.fold_ln and config.sv_type == "right":
        ex = flatten(decs)
        mapping = concept_factors(ws.encoded(config.dictionary).concepts)
        row["grounded"] = grounded_report(ex, world.of(ex.keys, polarity_of(decs)), world.labels, mapping)[
            "summary"
        ]
    return row


def format_rows(rows: list[dict[str, Any]], key: str = "method") -> str:
    factors = list(FACTORS)
    grounded = any("grounded" in r for r in rows)
    width = {f: max(7, len(f) + 1) for f in factors}  # full factor names, never cut
    head = (
        f"{key:<22}"
        + "".join(f"{f:>{width[f]}}" for f in factors)
        + f"{'recall':>8}{'purity':>8}{'fid':>7}{'coher':>7}"
        + (f"{'| n':>5}{'AUC':>7}{'>=.75':>7}{'g-rec':>7}" if grounded else "")
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        g = r.get("grounded", {}).get("top")
        lines.append(
            f"{str(r[key]):<22}"
            + "".join(f"{r['recall'][f]:>{width[f]}.2f}" for f in factors)
            + f"{r['mean_recall']:>8.2f}{r['purity']:>8.2f}{r['fidelity']:>7.2f}{r['coherence']:>7.2f}"
            + (f"{g['count']:>5}{g['mean_auc']:>7.2f}{g['share_auc_good']:>7.2f}{g['grounded_recall']:>7.2f}"
               if g else "")
        )
    lines.append(EVAL_LEGEND)
    if grounded:
        lines.append("# | grounded, top-concept rule: n named components, mean AUC, share with AUC >= 0.75 "
                     "(>=.75), grounded recall (g-rec)")
    return "\n".join(lines)


#: The legend under ``sith organism eval``'s method/setting tables (:mod:`sith.organism_eval.scoring`).
EVAL_LEGEND = (
    "# shape..count: share of the factor's values that are the top concept of some component; "
    "recall: their mean;\n# purity: per head, share of top concepts from its most common factor; "
    "fid: mean fidelity cos(target, reconstruction);\n# coher: mean pairwise cosine of an "
    "explanation's atoms (static metrics: read them beside the nulls below)"
)


#: ``sith organism eval --settings``: the seed's recipe and one row per project option.
SETTINGS = {
    "seed (comp-0.3)": {},
    "polarity=best": {"polarity": "best"},
    "atoms=raw": {"atoms": "raw"},
    "atoms=image-cone": {"atoms": "image-cone"},
    "no-image-mean": {"image_mean": False},
    "ncomp-0.3": {"method": "ncomp-0.3"},
    "nofoldln": {"fold_ln": False},
    "sv-type=left": {"sv_type": "left"},
}



def evaluate(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    methods: list[str] | None = None,
    layers: list[int] | None = None,
    sparsity: int = 5,
    settings: bool = False,
    nulls: bool = True,
    options: Options | None = None,
    twins: TwinOptions | None = DEFAULT_TWINS,
    legacy: bool = False,
    data_dir: Any = "data",
    device: str = "cpu",
    progress: bool = True,
) -> tuple[str, dict[str, Any]]:
    """What ``sith organism eval`` prints and writes: the twin test of the seed recipe
    (``twins``; None skips it); with ``legacy`` one row of retired static metrics per method
    (seed recipe otherwise), with ``settings`` one per project option (all ``comp-0.3``), with
    ``nulls`` beside the null baselines; plus the grounded validation / faithfulness that
    ``options`` asks for."""
    methods = list(methods or DEFAULT_METHODS)
    for m in methods:  # bad flags fail before the model loads
        DecompositionConfig.check_options({"method": m, "sparsity": sparsity})
    clip = load_clip(*default_names(model_name, pretrained), device=device)
    ws = organism_workspace(clip, data_dir=data_dir, device=device, progress=progress)
    layers = layers or default_layers(ws.weights.n_layers, last=2)
    info = ws.clip.info

    def request(**kw: Any) -> Any:
        return DecompositionConfig(
            info.model_name, info.pretrained, layers=tuple(layers), sparsity=sparsity, **kw
        )

    opts = options or Options()
    world = None
    if opts.grounded:
        base = ws.resolve(request())
        world = world_activations(ws.clip, list(base.layers), base.rank, n_images=opts.n_images,
                                  seed=opts.image_seed, progress=progress)
    names = (methods + (list(SETTINGS) if settings else [])) if legacy else []
    bar = tqdm(total=len(names), desc="organism eval", unit="config", disable=not progress)

    def run(name: str, config: Any) -> dict[str, Any]:
        bar.set_postfix_str(name)
        out = evaluate_config(ws, config, world)
        bar.update()
        return out

    text = f"layers {layers}, K={sparsity}, seed recipe (right, foldln, atoms center, image mean)\n"
    results: dict[str, Any] = {"model": info.as_dict(), "layers": layers, "sparsity": sparsity}
    if twins is not None:
        results["twins"] = run_twin_test(ws, request(), twins, progress=progress)
        text += "\n" + format_twin_test(results["twins"]) + "\n"
    if legacy:
        rows = [{"method": m, **run(m, request(method=m))} for m in methods]
        text += ("\nretired metrics (--legacy-metrics; docs/organism.md: recall, purity and coherence do not "
                 "separate trained from null)\n" + format_rows(rows))
        results["methods"] = rows
    if legacy and settings:
        srows = [
            {"setting": name, **run(name, request(**kw))} for name, kw in SETTINGS.items()
        ]
        text += "\n\nsettings (comp-0.3 unless named)\n" + format_rows(srows, key="setting")
        results["settings"] = srows
    bar.close()
    if (legacy and nulls) or opts.grounded or opts.faithful:
        vtext, results["validation"] = validate(ws, request(), opts, world=world, progress=progress,
                                                static=legacy and nulls)
        text += vtext
    return text, results
