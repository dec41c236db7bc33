"""Search and edits on one :class:`~sith.pipeline.workspace.Workspace` (its model, caches, data dir).

What ``sith search`` and ``sith edit`` do, as functions of a workspace — request → plan → apply:

* :func:`search` — the data-free reverse lookup, with the request's familiarity (is its best
  ``|cos|`` above what random strings of its shape reach? :mod:`sith.edit.select.matching`);
* :func:`plan` — the :class:`~sith.edit.EditPlan` of an :class:`~sith.edit.EditRequest`, by
  index or by concept: the request matched to dictionary concepts, judged explanations
  (``rule="judged"``, the paper's selection) or a named rule, the totals, the familiarity
  notes, the explanation of every component whose layer is decomposed; nothing written;
* :func:`apply` — the edited model in memory; :func:`save` — the edited checkpoint and its log
  (never overwriting an earlier edit); :func:`apply_log` / :func:`undo_log` — a logged edit
  reproduced on the original model, or undone on the edited one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sith import paths
from sith.decompose.config import DecompositionConfig
from sith.decompose.results import LayerDecomposition, ModelRef
from sith.decompose.search import SearchHit, alignment, rank_heads
from sith.decompose.tables import data_frame, html_table
from sith.edit import EditPlan, EditRequest, Evidence, apply_plan, default_output, edited_model, plan_edits
from sith.edit import apply_log as apply_edit_log
from sith.edit import undo_log as undo_edit_log
from sith.edit.judges import Judge
from sith.edit.judges.registry import JudgeInputs, check_judge, make_judge
from sith.edit.select import ConceptMatch, Familiarity, familiarity, match_concept
from sith.encode import concept_atom
from sith.errors import ConfigError, SithError
from sith.factor import check_layer

log = logging.getLogger(__name__)


def text_atoms(ws: Any, config: DecompositionConfig, texts: list[str]) -> Tensor:
    """``(n, e)`` atoms of ``texts`` made exactly like ``config``'s dictionary atoms (docs/method.md §4)."""
    encoded = ws.encoded(config.dictionary, config.template)
    mean = ws.image_mean() if config.atoms == "image-cone" else None
    with torch.no_grad():
        emb = ws.clip.encode_text(list(texts)).float().cpu()
    return torch.stack([concept_atom(e, encoded.embeddings, mode=config.atoms, image_mean=mean) for e in emb])


def best_alignment(ws: Any, config: DecompositionConfig, layers: list[int] | None):  # noqa: ANN201
    """``statistic(atoms (n, e)) -> (n,)``: each atom's best ``|cos|`` with any component target
    of ``layers`` (all layers when None) — the top hit of ``sith search``."""
    mean = ws.image_mean() if config.image_mean else None

    def statistic(atoms: Tensor) -> Tensor:
        per = alignment(
            ws.weights,
            atoms,
            layers=layers,
            fold_ln=config.fold_ln,
            sv_type=config.sv_type,
            image_mean=mean,
        )
        return torch.stack([cos.abs().reshape(-1, atoms.shape[0]).amax(0) for cos, _ in per.values()]).amax(0)

    return statistic


def request_familiarity(
    ws: Any, config: DecompositionConfig, query: str, layers: list[int] | None = None
) -> Familiarity:
    """How ``query``'s best ``|cos|`` compares with random strings of its shape."""
    return familiarity(
        query, lambda texts: text_atoms(ws, config, texts), statistic=best_alignment(ws, config, layers),
        dictionary_atoms=ws.atoms(config),
    )


#: Columns of a search result's rows.
SEARCH_COLUMNS = ("rank", *SearchHit._fields)


@dataclass(frozen=True)
class SearchResult:
    """``sith search``'s answer: the ``hits`` (best first), the query's ``familiarity`` and its
    dictionary ``match``. Indexing and iterating go over the hits."""

    hits: list[SearchHit]
    familiarity: Familiarity
    match: ConceptMatch

    def __iter__(self) -> Iterator[SearchHit]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, i: Any) -> Any:
        return self.hits[i]

    def __repr__(self) -> str:
        lines = [f"SearchResult({self.familiarity.query!r}: {len(self.hits)} hits)"]
        lines += [f"  {n}. {h}" for n, h in enumerate(self.hits, 1)]
        return "\n".join([*lines, f"  {self.familiarity.line()}"])

    def rows(self) -> list[dict[str, Any]]:
        """One dict per hit: rank, layer, head, index, polarity (``+``/``-``), ``|cos|``, σ."""
        return [{"rank": n, **h._asdict(), "polarity": "+" if h.polarity > 0 else "-"}
                for n, h in enumerate(self.hits, 1)]

    def to_pandas(self) -> Any:
        """The hits as a ``pandas.DataFrame`` (pandas: the ``notebook`` extra)."""
        return data_frame(self.rows(), SEARCH_COLUMNS)

    def _repr_html_(self) -> str:
        return html_table(self.rows(), SEARCH_COLUMNS, caption=f"search {self.familiarity.query!r}",
                          notes=[self.familiarity.line()])


def search(
    ws: Any, config: DecompositionConfig, concept: str, *, top: int = 20, layers: list[int] | None = None
) -> SearchResult:
    """The ``top`` components whose targets align best with ``concept`` (both polarities), the
    query's familiarity and its dictionary matches (in the dictionary? nearest concepts)."""
    if not concept.strip():
        raise SithError("the concept is empty; pass a word or phrase")
    if top < 1:
        raise ConfigError("top", f"{{name}} must be >= 1, got {top}", value=top)
    for layer in layers or ():  # every input checked before anything is written
        check_layer(ws.weights, layer)
    ws.check_inputs(config.dictionary, image_mean=config.uses_image_mean)
    atom = text_atoms(ws, config, [concept])[0]
    hits = rank_heads(
        ws.weights,
        atom,
        top=top,
        layers=layers,
        fold_ln=config.fold_ln,
        sv_type=config.sv_type,
        image_mean=ws.image_mean() if config.image_mean else None,
    )
    fam = request_familiarity(ws, config, concept, layers)
    return SearchResult(hits, fam, concept_match(ws, config, concept, noise_like=fam.noise_like))


def concept_match(ws: Any, config: DecompositionConfig, query: str, *, noise_like: bool) -> ConceptMatch:
    """``query`` matched to ``config``'s dictionary by words and by meaning (atoms in ``config``'s mode)."""
    encoded = ws.encoded(config.dictionary, config.template)
    return match_concept(
        query, encoded.concepts, ws.atoms(config), lambda t: text_atoms(ws, config, t), noise_like=noise_like
    )


def judge_for(
    ws: Any,
    judge: str | Judge,
    k: int,
    reference: list[str],
    matches: dict[str, ConceptMatch] | None = None,
    *,
    score_by: str = "mean",
):  # noqa: ANN201 - a JudgeFor
    """``names -> Judge`` for the judged rule and ``sith judge``: a judge object as given, or the
    registry's judge of that name (:mod:`sith.edit.judges.registry`) made from the request's
    dictionary ``matches`` (``share``), this model's text tower (``embedding``, centred on
    ``reference``) or the names alone (``words``). ``ws`` may be None for a judge that needs no model."""
    check_judge(judge)
    encode = None if ws is None else (lambda t: ws.clip.encode_text(t).float().cpu())

    def make(names: list[str]) -> Judge:
        matched = frozenset(c for n in names for c in (matches or {})[n].concepts) if matches else frozenset()
        inputs = JudgeInputs(tuple(names), int(k), matched, encode, tuple(reference), score_by)
        return make_judge(judge, inputs)

    return make


def request_notes(
    ws: Any, config: DecompositionConfig, names: list[str]
) -> tuple[dict[str, ConceptMatch], list[dict], list[str]]:
    """Per request word: its dictionary matches, a record of them and of its familiarity, and
    one-line notes for what a user must know (not in the dictionary, noise-like, no match)."""
    matches: dict[str, ConceptMatch] = {}
    records, notes = [], []
    for name in names:
        fam = request_familiarity(ws, config, name, list(config.layers) if config.layers else None)
        match = matches[name] = concept_match(ws, config, name, noise_like=fam.noise_like)
        records.append({"familiarity": fam.record(), "match": match.record()})
        if not match.in_dictionary:
            near = ", ".join(c for c, _ in match.nearest)
            notes.append(f"{name!r} is not in the dictionary (nearest: {near}).")
        if fam.noise_like:
            notes.append(fam.line() + ".")
        if not match.matched:
            notes.append(f"nothing in the dictionary matches {name!r}.")
    return matches, records, notes


def check_request(request: EditRequest) -> dict[str, Any]:
    """The request's decomposition options (a configuration's: its fields as asked), checked
    before any model loads."""
    if isinstance(request.decomposition, DecompositionConfig):
        return {}
    options = DecompositionConfig.check_options(dict(request.decomposition), command="edit")
    if options.get("layers") is not None and not request.by_concept:
        raise ConfigError(
            "layers",
            "{name} picks the layers {name:suppress}/{name:amplify} select from; {name:components} "
            "LAYER:HEAD:INDEX names its own layer: drop {name}",
        )
    return options


def plan(ws: Any, request: EditRequest) -> EditPlan:
    """The plan of ``request`` on ``ws``'s model, nothing written (docs/method.md §6).

    By concept: the decomposition ``request.decomposition`` configures (computed where missing),
    the request's dictionary matches and familiarity, then the rule's selection. By index: the
    components as named, with the explanations of every layer that has a stored decomposition
    made with the same fold (and the request's options, when given)."""
    options = check_request(request)
    given = request.decomposition
    asked = given if isinstance(given, DecompositionConfig) else ws.request(**options)
    judged = request.rule == "judged"
    selection: dict[str, Any] = {
        "judge": request.judge_name if judged else None,
        "min_score": request.min_score if judged else None,
        "requests": [],
    }
    if not request.by_concept:
        n = ws.weights.n_layers
        layers = sorted({e.layer % n for e in request.components if -n <= e.layer < n})
        decs = stored_decompositions(ws, options, layers, fold_ln=asked.fold_ln)
        evidence = Evidence(
            tuple(decs), config=common_config(decs), fold_ln=asked.fold_ln, sv_type=asked.sv_type,
            selection={**selection, **seed_provenance(decs)},
        )
        return plan_edits(ws.clip, request, evidence)
    config, decs = ws.decompositions(asked)
    concepts = ws.encoded(config.dictionary, config.template).concepts
    matches, records, notes = request_notes(ws, config, [*request.suppress, *request.amplify])
    reference = sorted({c for d in decs for c in d.concepts.values()})
    reads_minus = judged and bool(request.suppress) and request.signs == "both"  # -v is explained
    evidence = Evidence(
        tuple(decs),
        config=config,
        concepts=concepts,
        atoms=ws.atoms(config) if request.rule == "alignment" or reads_minus else None,
        judge_for=judge_for(ws, request.judge, config.sparsity, reference, matches) if judged else None,
        image_mean=ws.image_mean() if config.image_mean else None,
        fold_ln=asked.fold_ln,
        sv_type=asked.sv_type,
        selection={**selection, "requests": records, **seed_provenance(decs)},
        notes=tuple(notes),
    )
    return plan_edits(ws.clip, request, evidence)


def stored_decompositions(
    ws: Any, options: dict[str, Any], layers: list[int], *, fold_ln: bool
) -> list[LayerDecomposition]:
    """Per layer, the newest stored decomposition of this model made with ``fold_ln`` and the
    given ``options`` (those a file records as they were asked); none computed, none written."""
    info = ws.clip.info
    here = ModelRef(info.model_name, info.pretrained, info.fingerprint)
    folder = paths.decompositions_dir(ws.data_dir, info.model_name, info.pretrained)
    wanted = {k: v for k, v in options.items() if k not in ("layers", "dictionary", "rank")}
    out = []
    for layer in layers:
        files = [f for f in folder.glob(f"layer-{layer:02d}_*.pt") if not f.name.endswith(".partial.pt")]
        for f in sorted(files, key=lambda f: f.stat().st_mtime, reverse=True):
            try:
                dec = LayerDecomposition.load(f)
            except SithError:
                continue
            cfg = dec.config
            if dec.layer == layer and cfg.fold_ln == fold_ln and dec.model.same_model(here) and all(
                getattr(cfg, k) == v for k, v in wanted.items()
            ):
                out.append(dec)
                break
    return out


def common_config(decs: list[LayerDecomposition]) -> DecompositionConfig | None:
    """The configuration the decompositions share (their run's layers aside), else None."""
    identities = {d.config.identity() for d in decs}
    return decs[0].config if len(identities) == 1 else None


def seed_provenance(decs: list[Any]) -> dict[str, Any]:
    """``{"seed_decompositions": {layer: provenance}}`` when some decompositions were made by the
    seed's code (downloaded, used as stored); else ``{}``."""
    made = {
        str(d.layer): d.origin.get("provenance") or d.made_by_seed
        for d in decs
        if d.made_by_seed
    }
    return {"seed_decompositions": made} if made else {}


def apply(ws: Any, plan: EditPlan) -> Any:
    """The edited model in memory (a ``LoadedClip``; ``ws``'s own model is not changed)."""
    return edited_model(ws.clip, plan)


def save(ws: Any, plan: EditPlan, output: str | Path | None = None) -> tuple[Path, Path]:
    """Write the edited checkpoint and its log (the plan's selection, request and decomposition
    configuration recorded; temp + rename); without ``output`` a new file under the data dir
    named after the request's concepts, never an overwrite."""
    if output is None:
        asked = plan.request or EditRequest()
        name = "-".join(["edited", *asked.suppress, *asked.amplify])[:80]
        output = default_output(ws.data_dir, ws.clip, name)
        log.info("no --output given: writing the edited model to %s", output)
    return apply_plan(ws.clip, plan, output, extra={"selection": plan.log_selection()})


def apply_log(
    ws: Any, log_file: str | Path, output: str | Path | None, *, dry_run: bool = False
) -> tuple[EditPlan, Path | None, Path | None]:
    """Reproduce a logged edit on ``ws``'s model, the original (:func:`sith.edit.apply_log`)."""
    return apply_edit_log(ws.clip, log_file, output, dry_run=dry_run)


def undo_log(
    ws: Any, log_file: str | Path, output: str | Path | None, *, dry_run: bool = False
) -> Path | None:
    """Restore the original from ``ws``'s model, the edited one, and its log (:func:`sith.edit.undo_log`)."""
    return undo_edit_log(ws.clip, log_file, output, dry_run=dry_run)
