"""``sith organism eval``: SITH's explanations of the organism against its world's ground truth.

By default the **twin test** (:mod:`sith.organism_eval.twintest`): every analysed component's
whole explanation scored against counterfactual twin images, beside strength-matched random
directions (other heads, same head), the other nulls and the held-out single-value ceiling,
per factor, with the naming share of the heads that carry each factor's direct margin.

On request: the grounded validation (AUC of top-concept-named components on fresh world images,
:mod:`sith.organism_eval.grounded`) and faithfulness (:mod:`sith.organism_eval.faithfulness`),
each beside its nulls (:mod:`sith.organism_eval.validation`).
"""

from __future__ import annotations

from typing import Any

from sith.decompose import default_layers
from sith.decompose.config import RECIPE_OPTIONS, DecompositionRequest
from sith.errors import ConfigError
from sith.load import load_clip
from sith.load.clip import default_names
from sith.organism.inputs import organism_workspace
from sith.organism_eval.report import format_twin_test
from sith.organism_eval.twintest import TwinOptions, run_twin_test
from sith.organism_eval.validation import Options, validate
from sith.pipeline import DecompositionConfig

__all__ = ["DEFAULT_TWINS", "Options", "TwinOptions", "evaluate", "recipe_changes", "recipe_text"]

#: The twin test ``evaluate`` runs unless told otherwise.
DEFAULT_TWINS = TwinOptions()


def recipe_changes(config: DecompositionRequest) -> dict[str, Any]:
    """The recipe options of ``config`` that differ from the seed's defaults."""
    return {o.name: getattr(config, o.name) for o in RECIPE_OPTIONS if getattr(config, o.name) != o.default}


def recipe_text(config: DecompositionRequest) -> str:
    """``seed recipe (method=comp-0.3, fold_ln=True, ...)`` or ``recipe image_mean=False (...)``."""
    parts = ", ".join(f"{o.name}={getattr(config, o.name)}" for o in RECIPE_OPTIONS)
    changes = recipe_changes(config)
    if not changes:
        return f"seed recipe ({parts})"
    return "recipe " + " ".join(f"{k}={v}" for k, v in changes.items()) + f" ({parts})"


def evaluate(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    layers: list[int] | None = None,
    sparsity: int = 5,
    options: Options | None = None,
    twins: TwinOptions | None = DEFAULT_TWINS,
    recipe: dict[str, Any] | None = None,
    data_dir: Any = "data",
    device: str = "cpu",
    progress: bool = True,
) -> tuple[str, dict[str, Any]]:
    """What ``sith organism eval`` prints and writes: the twin test (``twins``; None skips it)
    of the seed recipe, or of the decomposition options ``recipe`` (:data:`RECIPE_OPTIONS`, e.g.
    ``{"method": "omp", "image_mean": False}``; checked before the model loads and printed in
    the header), plus the grounded validation / faithfulness that ``options`` asks for."""
    recipe = DecompositionRequest.check_options(
        {k: v for k, v in (recipe or {}).items() if v is not None}, command="organism eval")
    unknown = sorted(set(recipe) - {o.name for o in RECIPE_OPTIONS})
    if unknown:
        raise ConfigError(unknown[0], "{name} is not a recipe option of the twin test; use one of "
                          + ", ".join(o.name for o in RECIPE_OPTIONS), value=recipe[unknown[0]])
    clip = load_clip(*default_names(model_name, pretrained), device=device)
    ws = organism_workspace(clip, data_dir=data_dir, device=device, progress=progress)
    layers = layers or default_layers(ws.weights.n_layers, last=2)
    info = ws.clip.info
    request = DecompositionConfig(info.model_name, info.pretrained, layers=tuple(layers), sparsity=sparsity,
                                  **recipe)
    opts = options or Options()
    text = f"layers {layers}, K={sparsity}, {recipe_text(request)}\n"
    results: dict[str, Any] = {"model": info.as_dict(), "layers": layers, "sparsity": sparsity,
                               "recipe": {o.name: getattr(request, o.name) for o in RECIPE_OPTIONS},
                               "recipe_changes": recipe_changes(request)}
    if twins is not None:
        results["twins"] = run_twin_test(ws, request, twins, progress=progress)
        text += "\n" + format_twin_test(results["twins"]) + "\n"
    if opts.grounded or opts.faithful:
        vtext, results["validation"] = validate(ws, request, opts, progress=progress)
        text += vtext
    return text, results
