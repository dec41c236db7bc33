"""Search and edits on one :class:`~sith.pipeline.workspace.Workspace` (its model, caches, data dir).

What ``sith search`` and ``sith edit`` do, as functions of a workspace:

* :func:`search` — the data-free reverse lookup, with the request's familiarity (is its best
  ``|cos|`` above what random strings of its shape reach? :mod:`sith.edit.select.matching`);
* :func:`plan_edit` — the plan of an edit by index or by concept: the request matched to
  dictionary concepts, judged explanations (``rule="judged"``, the paper's selection) or a
  named rule, the totals, the familiarity notes; nothing written;
* :func:`write_edit` — the edited checkpoint and its log (never overwriting an earlier edit).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sith.decompose.config import DecompositionConfig
from sith.decompose.search import SearchHit, alignment, rank_heads
from sith.edit import ComponentEdit, EditPlan, apply_plan, default_output, plan_edits
from sith.edit.judges import EmbeddingJudge, Judge, ShareJudge, WordJudge
from sith.edit.select import DEFAULT_SIGNS, ConceptMatch, Familiarity, familiarity, match_concept
from sith.encode import concept_atom
from sith.errors import SithError
from sith.factor import check_layer

log = logging.getLogger(__name__)

#: ``sith edit --judge`` choices; the first is the default (``llm`` needs a judge object).
JUDGES = ("share", "words", "embedding", "llm")


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
            svd_of=ws.svd,
        )
        return torch.stack([cos.abs().reshape(-1, atoms.shape[0]).amax(0) for cos, _ in per.values()]).amax(0)

    return statistic


def request_familiarity(
    ws: Any, config: DecompositionConfig, query: str, layers: list[int] | None = None
) -> Familiarity:
    """How ``query``'s best ``|cos|`` compares with random strings of its shape."""
    return familiarity(
        query, lambda texts: text_atoms(ws, config, texts), statistic=best_alignment(ws, config, layers)
    )


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


def search(
    ws: Any, config: DecompositionConfig, concept: str, *, top: int = 20, layers: list[int] | None = None
) -> SearchResult:
    """The ``top`` components whose targets align best with ``concept`` (both polarities), the
    query's familiarity and its dictionary matches (in the dictionary? nearest concepts)."""
    if not concept.strip():
        raise SithError("the concept is empty; pass a word or phrase")
    if top < 1:
        raise SithError(f"--top must be >= 1, got {top}")
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
        svd_of=ws.svd,
    )
    fam = request_familiarity(ws, config, concept, layers)
    return SearchResult(hits, fam, concept_match(ws, config, concept, noise_like=fam.noise_like))


def concept_match(ws: Any, config: DecompositionConfig, query: str, *, noise_like: bool) -> ConceptMatch:
    """``query`` matched to ``config``'s dictionary by words and by meaning."""
    encoded = ws.encoded(config.dictionary, config.template)
    return match_concept(
        query,
        encoded.concepts,
        encoded.embeddings,
        lambda t: ws.clip.encode_text(t).float().cpu(),
        noise_like=noise_like,
    )


def judge_for(
    ws: Any,
    judge: str | Judge,
    k: int,
    reference: list[str],
    matches: dict[str, ConceptMatch],
):  # noqa: ANN201 - a JudgeFor
    """``names -> Judge`` for the judged rule: ``share`` (the request's dictionary ``matches``),
    ``words``, ``embedding`` (this model's text tower, centred on ``reference``) or a given judge."""
    if not isinstance(judge, str):
        return lambda names: judge
    if judge == "share":
        return lambda names: ShareJudge({c for n in names for c in matches[n].concepts}, k)
    if judge == "words":
        return lambda names: WordJudge(names)
    if judge == "embedding":
        encode = ws.clip.encode_text
        return lambda names: EmbeddingJudge(lambda t: encode(t).float().cpu(), names, reference=reference)
    if judge == "llm":
        raise SithError("the llm judge needs its endpoint; pass --judge llm with --judge-url/--judge-model")
    raise SithError(f"unknown judge {judge!r}; use one of {', '.join(JUDGES)}")


def request_notes(
    ws: Any, config: DecompositionConfig, names: list[str]
) -> tuple[dict[str, ConceptMatch], list[dict], list[str]]:
    """Per request word: its dictionary matches, a record of them and of its familiarity, and
    one-line notes for what a user must know (not in the dictionary, noise-like, no match)."""
    matches: dict[str, ConceptMatch] = {}
    records, notes = [], []
    for name in names:
        fam = request_familiarity(ws, config, name, list(config.layers or ()))
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


def plan_edit(
    ws: Any,
    request: DecompositionConfig,
    *,
    components: list[tuple[int, int, int, float]] | None = None,
    suppress: list[str] | None = None,
    amplify: list[str] | None = None,
    suppress_alpha: float = 0.0,
    amplify_alpha: float = 2.0,
    rule: str = "judged",
    judge: str | Judge = "share",
    min_score: int = 3,
    threshold: float | None = None,
    max_per_layer: int | None = None,
    allow_large: bool = False,
    signs: str = DEFAULT_SIGNS,
) -> tuple[EditPlan, DecompositionConfig | None]:
    """The plan of an edit (nothing written) and the decomposition configuration it read;
    ``signs="both"`` (``DEFAULT_SIGNS``) lets the judged rule read ``−v``'s explanation too for a
    suppress request, ``"seed"`` only the stored ``+v`` (:mod:`sith.edit.select.judged`)."""
    config, decs, concepts, atoms, judge_of, notes, records = None, [], None, None, None, [], []
    if suppress or amplify:
        config, decs = ws.decompositions(request)
        concepts = ws.encoded(config.dictionary, config.template).concepts
        if rule == "alignment" or (rule == "judged" and suppress and signs == "both"):
            atoms = ws.atoms(config)
        matches, records, notes = request_notes(ws, config, [*(suppress or []), *(amplify or [])])
        if rule == "judged":
            reference = sorted({c for d in decs for c in d.concepts.values()})
            judge_of = judge_for(ws, judge, config.sparsity, reference, matches)
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
        judge_for=judge_of,
        min_score=min_score,
        threshold=threshold,
        max_per_layer=max_per_layer,
        sv_type=request.sv_type,
        image_mean=ws.image_mean() if config is not None and config.image_mean else None,
        svd_of=ws.svd,
        allow_large=allow_large,
        signs=signs,
        selection={
            "judge": (judge if isinstance(judge, str) else type(judge).__name__)
            if rule == "judged"
            else None,
            "min_score": min_score if rule == "judged" else None,
            "requests": records,
            **seed_provenance(decs),
        },
        notes=notes,
    )
    return plan, config


def seed_provenance(decs: list[Any]) -> dict[str, Any]:
    """``{"seed_decompositions": {layer: provenance}}`` when some decompositions were made by the
    seed's code (downloaded, used as stored); else ``{}``."""
    made = {
        str(d.layer): d.origin.get("provenance") or d.made_by_seed
        for d in decs
        if d.made_by_seed
    }
    return {"seed_decompositions": made} if made else {}


def write_edit(
    ws: Any,
    plan: EditPlan,
    config: DecompositionConfig | None,
    *,
    output: str | Path | None = None,
    suppress: list[str] | None = None,
    amplify: list[str] | None = None,
    threshold: float | None = None,
    max_per_layer: int | None = None,
) -> tuple[Path, Path]:
    """Write the edited checkpoint and its log (the plan's selection and the decomposition
    configuration recorded); without ``output`` a new file under the data dir."""
    if output is None:
        name = "-".join(["edited", *(suppress or []), *(amplify or [])])[:80]
        output = default_output(ws.data_dir, ws.clip, name)
        log.info("no --output given: writing the edited model to %s", output)
    selection = {
        **plan.selection,
        "suppress": suppress or [],
        "amplify": amplify or [],
        "threshold": threshold,
        "max_per_layer": max_per_layer,
        "totals": plan.totals(),
        "decomposition": None if config is None else config.record(),
    }
    return apply_plan(ws.clip, plan, output, extra={"selection": selection}, svd_of=ws.svd)
