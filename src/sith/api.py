"""The Python API behind every ``sith`` command (the CLI only parses flags and calls these).

Example::

    import sith.api as sith
    paths = sith.decompose(layers=[4, 5], method="comp-0.3", sparsity=5)  # built-in organism
    print(sith.show(paths[-1], heads=[0]))
    for hit in sith.search("water")[:5]:
        print(hit)
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from sith.decompose import report
from sith.decompose.search import SearchHit, rank_heads
from sith.errors import SithError
from sith.factor import check_layer
from sith.paths import DEFAULT_DATA_DIR
from sith.pipeline import DecompositionConfig, Workspace

log = logging.getLogger(__name__)

__all__ = [
    "DecompositionConfig",
    "Workspace",
    "config_from",
    "decompose",
    "download_dictionary",
    "edit",
    "encode_dictionary",
    "format_hits",
    "image_mean",
    "load_model",
    "search",
    "show",
    "verify",
    "workspace",
]


def load_model(model_name: str | None, pretrained: str | None, device: str = "cpu"):  # noqa: ANN201
    """The model (``sith.load.LoadedClip``) by name and tag; None gives the built-in organism."""
    from sith.load import load_clip
    from sith.load.clip import default_names

    return load_clip(*default_names(model_name, pretrained), device=device)


def workspace(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    progress: bool = True,
) -> Workspace:
    """Load a model into a :class:`Workspace` with the seed's defaults: dictionary
    ``conceptnet``; for the built-in organism its own pool, and its image mean made from
    its world's images when missing (512 images, seed 12345)."""
    from sith.load import DEFAULT_MODEL

    clip = load_model(model_name, pretrained, device)
    if clip.info.model_name != DEFAULT_MODEL:
        return Workspace(clip, data_dir=data_dir, device=device, progress=progress)
    from sith.organism.inputs import organism_workspace

    return organism_workspace(clip, data_dir=data_dir, device=device, progress=progress)


def config_from(ws: Workspace, **kw) -> DecompositionConfig:  # noqa: ANN003
    """A :class:`DecompositionConfig` request for ``ws``'s model from keyword options."""
    layers = kw.pop("layers", None)
    return DecompositionConfig(
        ws.clip.info.model_name,
        ws.clip.info.pretrained,
        layers=tuple(layers) if layers else None,
        **kw,
    )


def show(
    file: str | Path,
    *,
    layer: int | None = None,
    heads: list[int] | None = None,
    fmt: str = "table",
) -> str:
    """A decomposition file as a text table (with a legend of its columns), JSON or CSV
    (``fmt`` = table | json | csv); :func:`sith.decompose.report.show`.

    ``layer`` checks the file holds that layer; ``heads`` keeps only those heads.
    """
    return report.show(file, layer=layer, heads=heads, fmt=fmt)


def decompose(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    layers: list[int] | None = None,
    rank: int | None = None,
    method: str = "comp-0.3",
    sparsity: int = 5,
    dictionary: str | None = None,
    sv_type: str = "right",
    fold_ln: bool = True,
    polarity: str = "seed",
    atoms: str = "center",
    image_mean: bool = True,
    template: str | None = None,
    force: bool = False,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    progress: bool = True,
) -> list[Path]:
    """Run SITH (METHOD.md §2–§6) on ``layers`` and write one seed-format file per layer.

    Defaults are the seed's: the built-in organism, dictionary ``conceptnet`` (the
    organism's own pool for the organism), the last 4 layers, rank 64 capped at the head
    width, ``comp-0.3``, K = 5, right vectors, ``foldln``, the image mean subtracted from
    targets. ``polarity``/``atoms``/``image_mean=False``/``template`` and the methods
    ``ncomp-λ``/``somp``/``lasso`` are the project's options (§7), recorded in the file and
    its name. Finished layers made with the same configuration are kept unless ``force``.

    Returns:
        The paths, one per layer:
        ``data/models/{model}/{pretrained}/decompositions/layer-{l:02d}_..._sparsity-{K}[...].pt``.
    """
    request = dict(
        layers=layers,
        rank=rank,
        method=method,
        sparsity=sparsity,
        dictionary=dictionary,
        sv_type=sv_type,
        fold_ln=fold_ln,
        polarity=polarity,
        atoms=atoms,
        image_mean=image_mean,
        template=template,
    )
    DecompositionConfig.check_options(request)  # bad flags fail before the model loads
    ws = workspace(model_name, pretrained, data_dir=data_dir, device=device, progress=progress)
    return ws.decompose(config_from(ws, **request), force=force)


def search(
    concept: str,
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    dictionary: str | None = None,
    layers: list[int] | None = None,
    top: int = 20,
    fold_ln: bool = True,
    sv_type: str = "right",
    atoms: str = "center",
    image_mean: bool = True,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    progress: bool = True,
) -> list[SearchHit]:
    """Data-free reverse lookup: the singular vectors (any layer, head, index, either
    polarity) whose targets (METHOD.md §3, image mean subtracted) align best with ``concept``.

    The concept is encoded with the model's text tower and made into an atom exactly like
    the dictionary's (METHOD.md §4: the dictionary supplies the mean).
    """
    from sith.encode import concept_atom

    if not concept.strip():
        raise SithError("the concept is empty; pass a word or phrase")
    if top < 1:
        raise SithError(f"--top must be >= 1, got {top}")
    ws = workspace(model_name, pretrained, data_dir=data_dir, device=device, progress=progress)
    for layer in layers or ():  # every input checked before anything is written
        check_layer(ws.weights, layer)
    ws.check_inputs(dictionary, image_mean=image_mean or atoms == "image-cone")
    mean = ws.image_mean() if image_mean or atoms == "image-cone" else None
    encoded = ws.encoded(dictionary)
    with torch.no_grad():
        emb = ws.clip.encode_text([concept]).float().cpu()[0]
    atom = concept_atom(emb, encoded.embeddings, mode=atoms, image_mean=mean)
    return rank_heads(
        ws.weights,
        atom,
        top=top,
        layers=layers,
        fold_ln=fold_ln,
        sv_type=sv_type,
        image_mean=mean if image_mean else None,
        svd_of=ws.svd,
    )


def format_hits(hits: list[SearchHit], *, fmt: str = "table") -> str:
    """Search hits as a text table, JSON or CSV (``fmt`` = table | json | csv); columns: rank,
    layer, head, index, polarity (+: the concept aligns with the vector, -: with its
    negation), ``|cos|`` and the singular value."""
    report.check_format(fmt)
    if fmt != "table":
        rows = [
            {"rank": n, **h._asdict(), "polarity": "+" if h.polarity > 0 else "-"}
            for n, h in enumerate(hits, 1)
        ]
        if fmt == "json":
            return report.to_json(rows)
        return report.rows_to_csv(rows, ["rank", *SearchHit._fields])
    lines = [f"{'rank':>4} {'layer':>5} {'head':>4} {'idx':>4} {'pol':>3} {'|cos|':>6} {'sigma':>9}"]
    for n, h in enumerate(hits, 1):
        pol = "+" if h.polarity > 0 else "-"
        lines.append(
            f"{n:>4} {h.layer:>5} {h.head:>4} {h.index:>4} {pol:>3} {h.cosine:>6.3f} {h.singular_value:>9.4f}"
        )
    return "\n".join([*lines, report.SEARCH_LEGEND])


def verify(
    model_name: str | None = None, pretrained: str | None = None, *, device: str = "cpu"
) -> list[float]:
    """Max abs error per layer between each head's output rebuilt from the extracted
    weights and the model's real attention forward pass (hooks, removed afterwards)."""
    from sith.load import verify as verify_clip

    return verify_clip(load_model(model_name, pretrained, device))


def download_dictionary(
    name: str,
    *,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    source: str | None = None,
    progress: bool = True,
) -> Path:
    """Write ``data/dictionaries/NAME.txt`` from the pool's public source (or ``source``)."""
    from sith.encode import download_dictionary as _download

    return _download(name, data_dir=data_dir, source=source, progress=progress)


def encode_dictionary(
    model_name: str | None = None,
    pretrained: str | None = None,
    **options,  # noqa: ANN003 - see sith.pipeline.encoding.encode_dictionary
) -> Path:
    """Encode a concept pool with the model's own text tower (cached, resumable, torchrun-aware);
    returns ``data/models/{model}/{pretrained}/dictionaries/NAME.pt`` (the seed's plain tensor).
    Options: :func:`sith.pipeline.encoding.encode_dictionary`."""
    from sith.pipeline.encoding import encode_dictionary as run

    return run(model_name, pretrained, **options)


def image_mean(
    model_name: str | None = None,
    pretrained: str | None = None,
    **options,  # noqa: ANN003 - see sith.pipeline.encoding.image_mean
) -> Path:
    """Mean unit image embedding over a folder, file list or webdataset shards →
    ``image_mean.pt`` (the seed's plain tensor). Options: :func:`sith.pipeline.encoding.image_mean`."""
    from sith.pipeline.encoding import image_mean as run

    return run(model_name, pretrained, **options)


def edit(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    components: list[tuple[int, int, int, float]] | None = None,
    suppress: list[str] | None = None,
    amplify: list[str] | None = None,
    suppress_alpha: float = 0.0,
    amplify_alpha: float = 2.0,
    rule: str = "alignment",
    threshold: float | None = None,
    max_per_layer: int | None = None,
    output: str | Path | None = None,
    dry_run: bool = False,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    progress: bool = True,
    **decomposition,  # noqa: ANN003 - the options of :func:`decompose`
):  # noqa: ANN201
    """Scale singular components (METHOD.md §6) and save the edited model + edit log.

    ``components`` are ``(layer, head, index, alpha)``; ``suppress``/``amplify`` name
    dictionary concepts, selected by ``rule`` (:mod:`sith.edit.select`) among the
    components of the decomposition that ``decomposition`` (the options of
    :func:`decompose`) configures — computed if missing or made with another
    configuration. With ``dry_run`` nothing is written. The log records the full
    decomposition configuration. Returns ``(plan, checkpoint_path | None, log_path | None)``.
    """
    from sith.edit import ComponentEdit, apply_plan, plan_edits
    from sith.edit.exact import check_alpha
    from sith.edit.run import check_selection, default_output

    options = DecompositionConfig.check_options(decomposition, command="edit")
    for alpha in (suppress_alpha, amplify_alpha, *(c[3] for c in components or [] if len(c) > 3)):
        check_alpha(alpha)  # flags that need no model fail before it loads
    check_selection(threshold, max_per_layer)
    ws = workspace(model_name, pretrained, data_dir=data_dir, device=device, progress=progress)
    request = config_from(ws, **options)
    config, decs, concepts, atoms = None, [], None, None
    if suppress or amplify:
        config, decs = ws.decompositions(request)
        concepts = ws.encoded(config.dictionary, config.template).concepts
        if rule == "alignment":
            atoms = ws.atoms(config)
    plan = plan_edits(
        ws.clip,
        components=[
            ComponentEdit(*c[:3], c[3] if len(c) > 3 else suppress_alpha, "by index")
            for c in components or []
        ],
        suppress=suppress,
        amplify=amplify,
        suppress_alpha=suppress_alpha,
        amplify_alpha=amplify_alpha,
        fold_ln=request.fold_ln,
        decompositions=decs,
        concepts=concepts,
        atoms=atoms,
        rule=rule,
        threshold=threshold,
        max_per_layer=max_per_layer,
        sv_type=request.sv_type,
        image_mean=ws.image_mean() if config is not None and config.image_mean else None,
        svd_of=ws.svd,
    )
    if dry_run:
        return plan, None, None
    if output is None:
        output = default_output(
            data_dir, ws.clip, "-".join(["edited", *(suppress or []), *(amplify or [])])[:80]
        )
        log.info("no --output given: writing the edited model to %s", output)
    selection = {
        "suppress": suppress or [],
        "amplify": amplify or [],
        "rule": rule,
        "threshold": threshold,
        "max_per_layer": max_per_layer,
        "decomposition": None if config is None else config.record(),
    }
    ckpt, log_file = apply_plan(ws.clip, plan, output, extra={"selection": selection}, svd_of=ws.svd)
    return plan, ckpt, log_file
