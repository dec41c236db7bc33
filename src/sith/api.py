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

import sith.organism.plugin  # noqa: F401 - registers the built-in organism (the default model)
from sith.decompose import report
from sith.decompose.search import SearchHit
from sith.edit.select import ConceptMatch, Familiarity
from sith.errors import SithError
from sith.paths import DEFAULT_DATA_DIR
from sith.pipeline import DecompositionConfig, Workspace
from sith.pipeline.editing import SearchResult

log = logging.getLogger(__name__)

__all__ = [
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
    "image_mean",
    "load_model",
    "query_lines",
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


#: Open sessions: ``(model_name, pretrained, data_dir, device) -> Workspace`` (see :func:`workspace`).
_SESSIONS: dict[tuple[str, str, str, str], Workspace] = {}
#: Sessions kept open at once (each holds a model and its SVDs).
MAX_SESSIONS = 2
#: The format tag of ``sith search --json`` (:func:`format_hits`).
SEARCH_FORMAT = "sith-search/1"


def workspace(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    progress: bool = True,
) -> Workspace:
    """The session of a model: a :class:`Workspace` with the seed's defaults (dictionary
    ``conceptnet``; for the built-in organism its own pool, and its image mean made from its
    world's images when missing). The model is loaded once per ``(model, tag, data dir,
    device)`` and reused by every later API call (its caches too); :func:`close` drops them."""
    from sith.load.clip import default_names

    key = (*default_names(model_name, pretrained), str(Path(data_dir)), str(device))
    ws = _SESSIONS.get(key)
    if ws is None:
        ws = _SESSIONS[key] = _open(key[0], key[1], data_dir=data_dir, device=device)
        while len(_SESSIONS) > MAX_SESSIONS:
            _SESSIONS.pop(next(iter(_SESSIONS)))
    ws.progress = progress
    return ws


def close() -> None:
    """Drop every open session (models, SVDs, encoded dictionaries): the next call loads again."""
    _SESSIONS.clear()


def _open(model_name: str, pretrained: str, *, data_dir: str | Path, device: str) -> Workspace:
    from sith.organism import ORGANISM_NAME

    clip = load_model(model_name, pretrained, device)
    if clip.info.model_name != ORGANISM_NAME:
        return Workspace(clip, data_dir=data_dir, device=device)
    from sith.organism.inputs import organism_workspace

    return organism_workspace(clip, data_dir=data_dir, device=device, progress=True)


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


def format_hits(hits: SearchResult | list[SearchHit], *, fmt: str = "table") -> str:
    """Search hits as a text table, JSON or CSV (``fmt`` = table | json | csv); columns: rank,
    layer, head, index, polarity (+: the concept aligns with the vector, -: with its
    negation), ``|cos|`` and the singular value. A :class:`SearchResult` adds the query's
    familiarity and dictionary matches (lines under the table; keys in JSON). JSON is one
    object tagged :data:`SEARCH_FORMAT` with the rows under ``hits``."""
    report.check_format(fmt)
    result = hits if isinstance(hits, SearchResult) else None
    hits = list(hits)
    if fmt != "table":
        rows = [
            {"rank": n, **h._asdict(), "polarity": "+" if h.polarity > 0 else "-"}
            for n, h in enumerate(hits, 1)
        ]
        if fmt == "json":
            extra = {} if result is None else {
                "familiarity": result.familiarity.record(), "match": result.match.record()
            }
            return report.to_json({"format": SEARCH_FORMAT, "hits": rows, **extra})
        return report.rows_to_csv(rows, ["rank", *SearchHit._fields])
    lines = [f"{'rank':>4} {'layer':>5} {'head':>4} {'idx':>4} {'pol':>3} {'|cos|':>6} {'sigma':>9}"]
    for n, h in enumerate(hits, 1):
        pol = "+" if h.polarity > 0 else "-"
        lines.append(
            f"{n:>4} {h.layer:>5} {h.head:>4} {h.index:>4} {pol:>3} {h.cosine:>6.3f} {h.singular_value:>9.4f}"
        )
    lines.append(report.SEARCH_LEGEND)
    if result is not None:
        lines += query_lines(result.familiarity, result.match)
    return "\n".join(lines)


def query_lines(fam: Familiarity, match: ConceptMatch) -> list[str]:
    """What the model and the dictionary make of a query: familiarity, dictionary membership,
    nearest concepts, the concepts it matches."""
    near = ", ".join(f"{c} ({v:.2f})" for c, v in match.nearest)
    matched = ", ".join(f"{c} [{how}]" for c, how, _ in match.matched) or "none"
    return [
        f"# query {fam.line()}" + (": treat these hits as noise" if fam.noise_like else ""),
        f"# in the dictionary: {'yes' if match.in_dictionary else 'no'}; nearest concepts: {near}",
        f"# matches (by words or meaning, null tau {match.threshold:.3f}): {matched}",
    ]


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
    above 10% of the components selected from is refused unless ``allow_large``. With
    ``dry_run`` nothing is written. Returns ``(plan, checkpoint_path | None, log_path | None)``.
    """
    from sith.edit.exact import check_alpha
    from sith.edit.plan import MAX_SHARE, check_rule, check_selection

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
