"""``sith compare BASE TUNED``: per layer × head, how the fold-ln matrices moved (issue 11 item 5).

:func:`compare_weights` is the pure core (two :class:`~sith.load.weights.VisionWeights`
→ per-layer metrics of :mod:`sith.compare.metrics`); :func:`compare_models_by_name` loads
both models, optionally explains ΔW's top singular vectors with COMP
(:mod:`sith.compare.explain`) and writes ``compare.json``, ``compare.pt`` and one heatmap
PNG per metric (docs/grounding.md).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sith import __version__
from sith.compare.explain import explain_deltas
from sith.compare.metrics import HEAD_METRICS, layer_metrics
from sith.decompose.config import EXPLAIN_OPTIONS, DecompositionRequest
from sith.decompose.spec import check_names
from sith.errors import SithError
from sith.factor import check_layer, check_rank, head_vo
from sith.io import atomic_write, save_json, save_pt
from sith.load.clip import default_names, load_clip
from sith.load.weights import VisionWeights
from sith.paths import DEFAULT_DATA_DIR, model_dir, slug

log = logging.getLogger(__name__)

FORMAT = "sith-compare/1"


def check_same_architecture(base: VisionWeights, tuned: VisionWeights) -> None:
    """SithError naming the first difference when the two towers cannot be compared."""
    for what, a, b in (
        ("layers", base.n_layers, tuned.n_layers),
        ("heads", base.n_heads, tuned.n_heads),
        ("width", base.d_model, tuned.d_model),
        ("head width", base.d_head, tuned.d_head),
        ("joint width", base.d_embed, tuned.d_embed),
    ):
        if a != b:
            raise SithError(
                f"cannot compare {base.info.model_name} with {tuned.info.model_name}: different "
                f"architectures ({what} {a} vs {b}); compare a model with a fine-tuned copy of itself"
            )


def compare_weights(
    base: VisionWeights,
    tuned: VisionWeights,
    *,
    layers: list[int] | None = None,
    rank: int | None = None,
    delta_top: int = 3,
) -> dict[int, dict[str, Tensor]]:
    """Per-layer metrics (:func:`sith.compare.metrics.layer_metrics`) of ``tuned`` vs ``base``.

    Args:
        layers: default all; rank: top-r subspaces (default the head width ``dh``);
        delta_top: top singular triplets of ΔW kept per head.
    """
    check_same_architecture(base, tuned)
    layers = list(range(base.n_layers)) if layers is None else [check_layer(base, x) for x in layers]
    r = base.d_head if rank is None else check_rank(base, rank)
    if delta_top < 1:
        raise SithError(f"--delta-top must be >= 1, got {delta_top}")
    out = {}
    for layer in sorted(set(layers)):
        sb = head_vo(base, layer, fold_ln=True).svd
        st = head_vo(tuned, layer, fold_ln=True).svd
        out[layer] = layer_metrics(sb, st, r, delta_top)
    return out


def summary(results: dict[int, dict[str, Tensor]], base: VisionWeights, tuned: VisionWeights,
            config: dict[str, Any], explanations: dict[int, list] | None = None) -> dict[str, Any]:
    """The JSON document: config, per layer × head scalars, ΔW's top singular values and
    ``singular_value_change`` (``s_tuned − s_base`` of the top ``config["rank"]`` components)."""
    layers = []
    for layer, m in results.items():
        heads = []
        for h in range(m["sv_change"].shape[0]):
            row: dict[str, Any] = {"head": h}
            row.update({key: round(float(m[key][h]), 6) for key in HEAD_METRICS})
            row["delta_singular_values"] = [round(float(x), 6) for x in m["delta_S"][h]]
            change = m["s_tuned"][h, : config["rank"]] - m["s_base"][h, : config["rank"]]
            row["singular_value_change"] = [round(float(x), 6) for x in change]
            if explanations is not None:
                row["delta_explanations"] = explanations[layer][h]
            heads.append(row)
        layers.append({"layer": layer, "heads": heads})
    return {
        "format": FORMAT,
        "base": base.info.as_dict(),
        "tuned": tuned.info.as_dict(),
        "config": config,
        "layers": layers,
    }


def write_heatmaps(results: dict[int, dict[str, Tensor]], out_dir: Path, title: str) -> list[Path]:
    """One PNG per metric of ``HEAD_METRICS``: rows = layers, columns = heads."""
    import matplotlib  # noqa: PLC0415 - heavy import, only when drawing

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    layers = list(results)
    paths = []
    for key in HEAD_METRICS:
        grid = torch.stack([results[layer][key].float() for layer in layers]).numpy()
        fig, ax = plt.subplots(figsize=(1.0 + 0.5 * grid.shape[1], 1.0 + 0.4 * len(layers)))
        im = ax.imshow(grid, aspect="auto", cmap="viridis")
        ax.set_xticks(range(grid.shape[1]))
        ax.set_yticks(range(len(layers)), [str(x) for x in layers])
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_title(f"{key}\n{title}", fontsize=8)
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        path = out_dir / f"{key}.png"
        atomic_write(path, lambda p, fig=fig: fig.savefig(p, format="png", dpi=90))
        plt.close(fig)
        paths.append(path)
    return paths


def compare_models_by_name(
    base_model: str | None,
    base_pretrained: str | None,
    tuned_model: str | None,
    tuned_pretrained: str,
    *,
    layers: list[int] | None = None,
    rank: int | None = None,
    delta_top: int = 3,
    dictionary: str | None = None,
    plots: bool = True,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    output_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
    **explain: Any,
) -> list[Path]:
    """Load both models, compare them, write ``compare.json``, ``compare.pt`` and heatmaps.

    With ``dictionary``, ΔW's top write directions are explained (:func:`explain_deltas`);
    ``explain``: the decomposition options ``method``, ``sparsity``, ``atoms``, ``template``
    (:data:`EXPLAIN_OPTIONS`; defaults the seed's), checked before the models load.
    Output directory default: ``DATA_DIR/models/{tuned}/{tuned tag}/compare/{base}-{base tag}``.
    """
    check_names(explain, EXPLAIN_OPTIONS, command="compare")
    request = DecompositionRequest(dictionary=dictionary, **explain)
    bname, btag = default_names(base_model, base_pretrained)
    tname, ttag = default_names(tuned_model or bname, tuned_pretrained)
    base = load_clip(bname, btag, device=device)
    tuned = load_clip(tname, ttag, device=device)
    results = compare_weights(base.weights, tuned.weights, layers=layers, rank=rank, delta_top=delta_top)
    r = base.weights.d_head if rank is None else rank
    config = {"layers": list(results), "rank": r, "delta_top": delta_top, "fold_ln": True,
              "dictionary": dictionary, "sith_version": __version__}
    explanations = None
    if dictionary:
        explanations = explain_deltas(base, results, request, data_dir=data_dir, progress=progress)
        config.update({"sparsity": request.sparsity, "method": request.method})
    out = Path(output_dir) if output_dir else (
        model_dir(data_dir, tname, tuned.info.pretrained) / "compare"
        / f"{slug(bname)}-{slug(base.info.pretrained or 'none')}"
    )
    paths = [save_json(summary(results, base.weights, tuned.weights, config, explanations),
                       out / "compare.json")]
    record = {"format": FORMAT, "base": base.info.as_dict(), "tuned": tuned.info.as_dict(),
              "config": config, "layers": {int(k): v for k, v in results.items()}}
    paths.append(save_pt(record, out / "compare.pt"))
    if plots:
        title = f"{tname}/{slug(tuned.info.pretrained or 'none')} vs {bname}/{slug(btag or 'none')}"
        paths.extend(write_heatmaps(results, out, title))
    return paths
