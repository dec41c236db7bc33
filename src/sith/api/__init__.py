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
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from sith.api.formats import SEARCH_FORMAT, format_hits, query_lines
from sith.api.sessions import close, load_model, workspace
from sith.decompose import LayerDecomposition, report
from sith.encode.sources import SKIP_BAD_DEFAULT
from sith.errors import SithError
from sith.paths import DEFAULT_DATA_DIR
from sith.pipeline import DecompositionConfig, Workspace
from sith.pipeline.editing import SearchResult

log = logging.getLogger(__name__)

__all__ = [
    "SEARCH_FORMAT",
    "DecompositionConfig",
    "SearchResult",
    "Workspace",
    "close",
    "decompose",
    "download_dictionary",
    "download_model_data",
    "edit",
    "encode_dictionary",
    "format_hits",
    "ground",
    "image_mean",
    "judge",
    "load_model",
    "query_lines",
    "search",
    "show",
    "verify",
    "workspace",
]


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
    """Run SITH (docs/method.md §2–§6) on ``layers`` and write one seed-format file per layer.

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
    return ws.decompose(ws.request(**request), force=force)


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
) -> SearchResult:
    """Data-free reverse lookup: the singular vectors (any layer, head, index, either
    polarity) whose targets (docs/method.md §3, image mean subtracted) align best with ``concept``,
    with the query's familiarity (its best ``|cos|`` against random strings of its shape) and
    its dictionary matches. Iterating the result goes over the hits.

    The concept is encoded with the model's text tower and made into an atom exactly like
    the dictionary's (docs/method.md §4: the dictionary supplies the mean).
    """
    if not concept.strip():
        raise SithError("the concept is empty; pass a word or phrase")
    if top < 1:
        raise SithError(f"--top must be >= 1, got {top}")
    ws = workspace(model_name, pretrained, data_dir=data_dir, device=device, progress=progress)
    return ws.search(
        concept,
        top=top,
        layers=layers,
        dictionary=dictionary,
        fold_ln=fold_ln,
        sv_type=sv_type,
        atoms=atoms,
        image_mean=image_mean,
    )


def ground(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    images: str | Path | None = None,
    world: int = 0,
    world_seed: int = 0,
    world_variant: str = "train",
    skip_bad: bool = SKIP_BAD_DEFAULT,
    layers: list[int] | None = None,
    rank: int | None = None,
    k: int = 16,
    batch_size: int = 64,
    keep_all: bool = False,
    grids: bool = True,
    grid_components: int = 4,
    grid_images: int = 8,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    output_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> list[Path]:
    """Ground a model's components in ``images`` (folder, ``.tar`` shard, glob, file list) or
    ``world`` labelled images of a registered source (the organism's), and write the grounding
    files (docs/grounding.md; :meth:`Workspace.ground`). The images are checked before the model
    loads. Returns the written paths: ``layer-{l:02d}.pt`` per layer, ``summary.json``, grids."""
    from sith.ground import ImageSource

    source = ImageSource(
        path=None if images is None else str(images), world=world, world_seed=world_seed,
        world_variant=world_variant, skip_bad=skip_bad,
    )
    source.check()
    ws = workspace(model_name, pretrained, data_dir=data_dir, device=device, progress=progress)
    return ws.ground(
        source, grids=grids, output_dir=output_dir, layers=layers, rank=rank, k=k, batch_size=batch_size,
        keep_all=keep_all, grid_components=grid_components, grid_images=grid_images,
    )


def judge(
    decomposition: str | Path | LayerDecomposition,
    task: str,
    *,
    judge: Any = "embedding",
    task_concepts: list[str] | None = None,
    score_by: str = "mean",
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
) -> list[Any]:
    """Score every component of a decomposition (a file or a loaded one) 1-5 for ``task``
    (docs/judges.md): ``judge`` = ``embedding`` (the text tower of the file's model, on its
    session: loaded once), ``words`` (no model) or a judge object (e.g. an
    :class:`sith.edit.judges.LLMJudge`). Returns :class:`sith.judge.JudgedComponent` rows."""
    from sith.judge import WordJudge, embedding_judge_for, judge_decomposition

    dec = decomposition
    if not isinstance(dec, LayerDecomposition):
        dec = LayerDecomposition.load(dec)
    if judge == "words":
        judge = WordJudge(task_concepts, score_by=score_by)
    elif judge == "embedding":
        ws = workspace(dec.model.model_name, dec.model.pretrained, data_dir=data_dir, device=device)
        judge = embedding_judge_for(dec, task_concepts, ws.clip, score_by=score_by)
    elif isinstance(judge, str):
        raise SithError(f"unknown judge {judge!r}; use embedding, words or a judge object (e.g. LLMJudge)")
    return judge_decomposition(dec, task, judge)


def verify(
    model_name: str | None = None, pretrained: str | None = None, *, device: str = "cpu"
) -> list[float]:
    """Max abs error per layer between each head's output rebuilt from the extracted
    weights and the model's real attention forward pass (hooks, removed afterwards)."""
    from sith.load import verify as verify_clip

    return verify_clip(workspace(model_name, pretrained, device=device).clip)


def download_dictionary(
    name: str,
    *,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    source: str | None = "seed",
    progress: bool = True,
) -> Path:
    """Write ``data/dictionaries/NAME.txt`` (+ ``NAME.source.json``): ``source="seed"`` the
    authors' exact list from their Drive (default), ``"original"`` (or ``None``) our
    derivation from the public source, or a URL / local file of that source's format.
    See :func:`sith.resources.seed.fetch_dictionary`."""
    from sith.resources.seed import fetch_dictionary

    return fetch_dictionary(name, data_dir=data_dir, source=source or "original", progress=progress)


def download_model_data(
    model_name: str = "ViT-L-14",
    pretrained: str = "laion2b_s32b_b82k",
    *,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    force: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Fetch the seed authors' pre-computed files of one model (image mean, encoded
    dictionaries, decompositions) into ``data/models/{model}/{pretrained}/``; each gets an
    ``X.source.json`` provenance file. See :func:`sith.resources.seed.download_model_data`."""
    from sith.resources.seed import download_model_data as run

    return run(model_name, pretrained, data_dir=data_dir, force=force, progress=progress)


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
    rule: str = "judged",
    judge: Any = "share",
    min_score: int = 3,
    threshold: float | None = None,
    max_per_layer: int | None = None,
    allow_large: bool = False,
    signs: str | None = None,
    output: str | Path | None = None,
    dry_run: bool = False,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    progress: bool = True,
    **decomposition,  # noqa: ANN003 - the options of :func:`decompose`
):  # noqa: ANN201
    """Scale singular components (docs/method.md §6) and save the edited model + edit log.

    ``components`` are ``(layer, head, index, alpha)``; ``suppress``/``amplify`` name concepts,
    selected among the components of the decomposition that ``decomposition`` (the options
    of :func:`decompose`) configures — computed if missing or made with another configuration.
    The default ``rule="judged"`` is the paper's: every component's explanation is judged for the
    request (``judge``: ``share`` — the weight share of the request's dictionary matches —,
    ``words``, ``embedding`` or a judge object such as :class:`sith.edit.judges.LLMJudge`) and
    those judged ``≥ min_score`` are edited; ``alignment``/``weight`` are named options. A plan
    above 10% of the components selected from is refused unless ``allow_large``. ``signs``: a
    suppress request's judged rule reads the explanations of ``+v`` and ``−v`` (``both``; None =
    ``sith.edit.select.DEFAULT_SIGNS``, ``both``: zeroing removes both) or the stored ``+v`` only
    (``seed``). With ``dry_run`` nothing is written.
    Returns ``(plan, checkpoint_path | None, log_path | None)``.
    """
    from sith.edit.exact import check_alpha
    from sith.edit.plan import MAX_SHARE, check_rule, check_selection
    from sith.edit.select import DEFAULT_SIGNS, check_signs

    options = DecompositionConfig.check_options(decomposition, command="edit")
    if options.get("layers") is not None and not (suppress or amplify):
        raise SithError(
            "--layers picks the layers --suppress/--amplify select from; --component LAYER:HEAD:INDEX "
            "names its own layer: drop --layers"
        )
    for alpha in (suppress_alpha, amplify_alpha, *(c[3] for c in components or [] if len(c) > 3)):
        check_alpha(alpha)  # flags that need no model fail before it loads
    check_selection(threshold, max_per_layer)
    check_rule(rule, min_score, MAX_SHARE)
    signs = check_signs(DEFAULT_SIGNS if signs is None else signs)
    ws = workspace(model_name, pretrained, data_dir=data_dir, device=device, progress=progress)
    with ws.read_only() if dry_run else nullcontext():
        plan, config = ws.plan_edit(
            ws.request(**options),
            components=components,
            suppress=suppress,
            amplify=amplify,
            suppress_alpha=suppress_alpha,
            amplify_alpha=amplify_alpha,
            rule=rule,
            judge=judge,
            min_score=min_score,
            threshold=threshold,
            max_per_layer=max_per_layer,
            allow_large=allow_large,
            signs=signs,
        )
    if dry_run:
        return plan, None, None
    ckpt, log_file = ws.write_edit(
        plan,
        config,
        output=output,
        suppress=suppress,
        amplify=amplify,
        threshold=threshold,
        max_per_layer=max_per_layer,
    )
    return plan, ckpt, log_file
