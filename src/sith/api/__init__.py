"""The Python API behind every ``sith`` command (the CLI only parses flags and calls these).

In a notebook (request → plan → apply)::

    import sith
    ws = sith.open()                                   # the built-in organism's session
    print(ws.decomposition(layer=5).head(3))           # head 3's explanations (a table in Jupyter)
    model = ws.apply(ws.plan(sith.EditRequest(components=[(5, 3, 0)])))  # component zeroed, in memory

One function per command::

    import sith.api as sith
    paths = sith.decompose(layers=[4, 5], method="comp-0.3", sparsity=5)  # built-in organism
    print(sith.show(paths[-1], heads=[0]))
    for hit in sith.search("water")[:5]:
        print(hit)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sith.api.edits import apply_log, edit, undo_log
from sith.api.formats import SEARCH_FORMAT, format_hits, query_lines
from sith.api.sessions import close, load_model, workspace
from sith.decompose import LayerDecomposition, report
from sith.decompose.config import OPTIONS, SEARCH_OPTIONS, DecompositionRequest
from sith.decompose.spec import check_names, with_options
from sith.edit import EditPlan, EditRequest
from sith.edit.judges.registry import DEFAULT_JUDGE, NEEDS_MATCHES, NEEDS_MODEL, check_judge
from sith.encode.sources import SKIP_BAD_DEFAULT
from sith.errors import ConfigError, SithError
from sith.paths import DEFAULT_DATA_DIR
from sith.pipeline import DecompositionConfig, Workspace, editing
from sith.pipeline.editing import SearchResult

log = logging.getLogger(__name__)

__all__ = [
    "SEARCH_FORMAT",
    "DecompositionConfig",
    "DecompositionRequest",
    "EditPlan",
    "EditRequest",
    "SearchResult",
    "Workspace",
    "apply_log",
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
    "open",
    "query_lines",
    "search",
    "show",
    "undo_log",
    "verify",
    "workspace",
]


def open(  # noqa: A001 - sith.open(), like io.open: the session a notebook works in
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    progress: bool = True,
) -> Workspace:
    """The session of a model (the built-in organism when no name is given): a
    :class:`Workspace` loaded once and reused — ``ws.decomposition(layer=5)``, ``ws.search(...)``,
    ``ws.plan(EditRequest(...))``, ``ws.apply(plan)`` (in memory), ``ws.save(plan, path)``."""
    return workspace(model_name, pretrained, data_dir=data_dir, device=device, progress=progress)


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
    force: bool = False,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    progress: bool = True,
    **options: Any,
) -> list[Path]:
    """Run SITH (docs/method.md §2–§6) on ``layers`` and write one seed-format file per layer.

    ``options`` are those of :class:`sith.decompose.config.DecompositionRequest` (listed below,
    with their defaults: the seed's). Without a model name, the built-in organism with its own
    pool. ``polarity``/``atoms``/``image_mean=False``/``template``/a rank other than the seed's
    and the methods ``ncomp-λ``/``somp``/``lasso`` are the project's options (§7), recorded in
    the file and its name. Finished layers made with the same configuration are kept unless
    ``force``. A bad option raises :class:`sith.errors.ConfigError` naming it, before the model
    loads.

    Returns:
        The paths, one per layer:
        ``data/models/{model}/{pretrained}/decompositions/layer-{l:02d}_..._sparsity-{K}[...].pt``.
    """
    request = DecompositionRequest.from_options(options)  # bad options fail before the model loads
    ws = workspace(model_name, pretrained, data_dir=data_dir, device=device, progress=progress)
    return ws.decompose(request, force=force)


with_options(decompose, OPTIONS)

def search(
    concept: str,
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    layers: list[int] | None = None,
    top: int = 20,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    progress: bool = True,
    **options: Any,
) -> SearchResult:
    """Data-free reverse lookup: the singular vectors (any layer — ``layers``: only these —,
    head, index, either polarity) whose targets (docs/method.md §3, image mean subtracted) align
    best with ``concept``, with the query's familiarity (its best ``|cos|`` against random
    strings of its shape) and its dictionary matches. Iterating the result goes over the hits.

    The concept is encoded with the model's text tower and made into an atom exactly like
    the dictionary's (docs/method.md §4: the dictionary supplies the mean). ``options``: the
    decomposition options below, which make the targets and the atom.
    """
    if not concept.strip():
        raise SithError("the concept is empty; pass a word or phrase")
    if top < 1:
        raise ConfigError("top", f"{{name}} must be >= 1, got {top}", value=top)
    check_names(options, SEARCH_OPTIONS, command="search")
    request = DecompositionRequest(**options)
    ws = workspace(model_name, pretrained, data_dir=data_dir, device=device, progress=progress)
    return ws.search(concept, top=top, layers=layers, config=request)


with_options(search, SEARCH_OPTIONS)


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
    judge: Any = DEFAULT_JUDGE,
    task_concepts: list[str] | None = None,
    score_by: str = "mean",
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
) -> list[Any]:
    """Score every component of a decomposition (a file or a loaded one) 1-5 for ``task``
    (docs/judges.md) with a judge of the registry shared with :func:`edit`
    (:data:`sith.edit.judges.registry.JUDGES`): ``share`` (default, as ``sith edit``: the weight
    share of the concepts matching the task in the file's dictionary, on the file's model's
    session), ``embedding`` (its text tower), ``words`` (no model) or a judge object (e.g. an
    :class:`sith.edit.judges.LLMJudge`). The task's concepts are ``task_concepts``, else ``task``
    split at commas. Returns :class:`sith.judge.JudgedComponent` rows."""
    from sith.edit.judges import split_concepts
    from sith.judge import check_same_model, judge_decomposition

    check_judge(judge)
    dec = decomposition
    if not isinstance(dec, LayerDecomposition):
        dec = LayerDecomposition.load(dec)
    if isinstance(judge, str):
        names = list(task_concepts) if task_concepts is not None else split_concepts(task)
        ws = None
        if judge in NEEDS_MODEL:
            ws = workspace(dec.model.model_name, dec.model.pretrained, data_dir=data_dir, device=device)
            check_same_model(dec, ws.clip)
        matches = editing.request_notes(ws, dec.config, names)[0] if judge in NEEDS_MATCHES else None
        reference = sorted(set(dec.concepts.values()))
        judge = editing.judge_for(ws, judge, dec.sparsity, reference, matches, score_by=score_by)(names)
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
