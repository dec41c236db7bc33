"""The results object of one layer's decomposition, with save/load (docs/method.md §5).

The saved ``.pt`` is the seed's format — a dict whose ``scores`` and ``indices``
are ``(num_heads, rank, K)`` — plus what makes a result self-describing:
singular values, fidelity, polarity, tie flags, the concept strings the indices
point to, and provenance (model, tag, fingerprint, dictionary name and content
hash, method and parameters, package version).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sith.decompose import seedformat
from sith.decompose.config import DecompositionConfig
from sith.decompose.tables import HeadExplanations
from sith.errors import FormatError, ModelMismatch, SithError
from sith.io import load_pt, save_pt

FORMAT = "sith-decomposition/1"


@dataclass(frozen=True)
class ModelRef:
    """The model a record was made for: name, pretrained tag and weights fingerprint ("" when
    unknown, e.g. a file made by the seed's code)."""

    model_name: str
    pretrained: str
    fingerprint: str = ""

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ModelRef:
        return cls(str(record.get("model_name", "")), str(record.get("pretrained", "")),
                   str(record.get("fingerprint") or ""))

    def same_model(self, other: ModelRef) -> bool:
        """Same weights: equal fingerprints, or equal names where one fingerprint is unknown."""
        if self.fingerprint and other.fingerprint:
            return self.fingerprint == other.fingerprint
        return (self.model_name, self.pretrained) == (other.model_name, other.pretrained)


#: Keys of a stored record that say where a file made by the seed's code came from
#: (:mod:`sith.decompose.seedformat`): kept in :attr:`LayerDecomposition.origin`.
ORIGIN_KEYS = ("made_by", "provenance", "concepts_missing")


@dataclass(frozen=True)
class LayerDecomposition:
    """One layer's explanations.

    Attributes:
        scores: ``(num_heads, rank, K)`` non-negative weights (signed for ``omp``); 0 = unused slot.
        indices: ``(num_heads, rank, K)`` int64 dictionary indices; -1 = unused slot.
        singular_values: ``(num_heads, rank)``.
        fidelity: ``(num_heads, rank)`` cosine between the explained vector and its reconstruction.
        polarity: ``(num_heads, rank)`` int8, +1 if the explanation is of the canonical-sign
            vector ``p``, -1 if of ``-p`` (sign rule: :mod:`sith.factor`).
        tied: ``(num_heads, rank)`` bool, nearly tied singular values (vector not identifiable).
        concepts: dictionary index → concept string, for every index used.
        layer: the decomposed layer.
        config: the configuration it was made with (docs/method.md §6; in memory its ``layers``
            are the run's, of which ``layer`` is one; a saved file records ``[layer]``, older files
            the run's list, and both read back).
        alt: for ``--polarity both``: ``scores``/``indices``/``fidelity`` of the other polarity.
        origin: for a file made by the seed's code: ``made_by`` (a description), ``provenance``
            (its download record) and ``concepts_missing``; empty for files made here.
    """

    scores: Tensor
    indices: Tensor
    singular_values: Tensor
    fidelity: Tensor
    polarity: Tensor
    tied: Tensor
    concepts: dict[int, str]
    layer: int
    config: DecompositionConfig
    alt: dict[str, Tensor] = field(default_factory=dict)
    origin: dict[str, Any] = field(default_factory=dict)

    @property
    def num_heads(self) -> int:
        return int(self.scores.shape[0])

    @property
    def rank(self) -> int:
        return int(self.scores.shape[1])

    @property
    def sparsity(self) -> int:
        return int(self.scores.shape[2])

    @property
    def model(self) -> ModelRef:
        """The model it was made for."""
        return ModelRef(self.config.model_name, self.config.pretrained, self.config.fingerprint)

    @property
    def made_by_seed(self) -> str | None:
        """For a file made by the seed's code (downloaded): where it came from, else None."""
        made = self.origin.get("made_by")
        return None if not made else str(made)

    def explanation(self, head: int, index: int, *, alt: bool = False) -> list[tuple[str, float]]:
        """The (concept, weight) pairs explaining vector ``index`` of ``head``, largest first.

        Slots with weight 0 (selected by a greedy solver, then zeroed by NNLS) are left out."""
        scores = self.alt["scores"] if alt else self.scores
        indices = self.alt["indices"] if alt else self.indices
        pairs = [
            (self.concepts[int(i)], float(w))
            for w, i in zip(scores[head, index].tolist(), indices[head, index].tolist())
            if i >= 0 and w != 0
        ]
        return sorted(pairs, key=lambda p: -abs(p[1]))

    def table(self, heads: list[int] | None = None) -> HeadExplanations:
        """Every component of ``heads`` (all when None) with its singular value, fidelity, tie
        flag and explanation: a table in a notebook, text when printed, ``.to_pandas()``."""
        for h in heads or ():
            if not 0 <= h < self.num_heads:
                raise SithError(f"head {h} is out of range: this layer has heads 0..{self.num_heads - 1}")
        S, fid, tied = self.singular_values.tolist(), self.fidelity.tolist(), self.tied.tolist()
        rows = tuple(
            {"layer": self.layer, "head": h, "index": i, "singular_value": float(S[h][i]),
             "fidelity": float(fid[h][i]), "tied": bool(tied[h][i]), "explanation": self.explanation(h, i)}
            for h in (range(self.num_heads) if heads is None else heads)
            for i in range(self.rank)
        )
        which = "" if heads is None else f" head {', '.join(map(str, heads))}"
        return HeadExplanations(rows, f"layer {self.layer}{which} · {self.config.describe()}")

    def head(self, head: int) -> HeadExplanations:
        """Head ``head``'s explanations, one row per singular vector (:meth:`table`)."""
        return self.table([head])

    def to_pandas(self) -> Any:
        """Every component's row as a ``pandas.DataFrame`` (pandas: the ``notebook`` extra)."""
        return self.table().to_pandas()

    def __repr__(self) -> str:
        return (f"LayerDecomposition(layer {self.layer}: {self.num_heads} heads x rank {self.rank}, "
                f"{self.config.describe()}; .head(h), .table(), .to_pandas())")

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    @classmethod
    def concat_heads(cls, parts: list[LayerDecomposition]) -> LayerDecomposition:
        """Join decompositions of consecutive head ranges of one layer (same configuration)."""
        cat = lambda name: torch.cat([getattr(p, name) for p in parts])  # noqa: E731
        alt = {k: torch.cat([p.alt[k] for p in parts]) for k in parts[0].alt}
        concepts: dict[int, str] = {}
        for p in parts:
            concepts.update(p.concepts)
        return cls(
            scores=cat("scores"),
            indices=cat("indices"),
            singular_values=cat("singular_values"),
            fidelity=cat("fidelity"),
            polarity=cat("polarity"),
            tied=cat("tied"),
            concepts=dict(sorted(concepts.items())),
            layer=parts[0].layer,
            config=parts[0].config,
            alt=alt,
            origin=parts[0].origin,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayerDecomposition:
        """The inverse of :meth:`to_dict`: the stored record is read into a typed
        :class:`DecompositionConfig` (a missing or ill-typed field raises)."""
        record = d["config"]
        return cls(
            scores=d["scores"],
            indices=d["indices"],
            singular_values=d["singular_values"],
            fidelity=d["fidelity"],
            polarity=d["polarity"],
            tied=d["tied"],
            concepts={int(k): v for k, v in d["concepts"].items()},
            layer=int(record["layer"]),
            config=DecompositionConfig.from_record(record),
            alt={k[4:]: v for k, v in d.items() if k.startswith("alt_")},
            origin={k: record[k] for k in ORIGIN_KEYS if k in record},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT,
            "scores": self.scores,
            "indices": self.indices,
            "singular_values": self.singular_values,
            "fidelity": self.fidelity,
            "polarity": self.polarity,
            "tied": self.tied,
            "concepts": dict(self.concepts),
            "config": {  # the file records its own layer only: a rerun of any layer set writes the same bytes
                **self.config.record(), "layers": [self.layer], "layer": self.layer,
                "model": asdict(self.model), **self.origin,
            },
        }
        for k, v in self.alt.items():
            out[f"alt_{k}"] = v
        return out

    def save(self, path: str | Path) -> Path:
        """Write atomically (temp + rename) as a weights-only-loadable ``.pt``."""
        return save_pt(self.to_dict(), path)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        expect_fingerprint: str | None = None,
        expect_dictionary_hash: str | None = None,
    ) -> LayerDecomposition:
        """Load a saved decomposition; a foreign file or one made for another model or
        dictionary raises :class:`SithError`. A file made by the seed's own code (a bare
        ``{scores, indices}`` dict) is read by :mod:`sith.decompose.seedformat`."""
        if Path(path).is_dir():
            found = [*sorted(Path(path).glob("layer-*.pt")),  # a decompositions folder or a data dir
                     *sorted(Path(path).glob("models/*/*/decompositions/layer-*.pt"))]
            example = f", e.g. {found[0]}" if found else " (written by `sith decompose`)"
            raise SithError(f"{path} is a folder; pass one decomposition .pt file{example}")
        d = load_pt(path, what="decomposition")
        if seedformat.is_seed_dict(d):  # made by the seed's code: no config inside
            d = {"format": FORMAT, **seedformat.seed_record(path, d)}
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise FormatError(
                f"{path} is not a sith decomposition file; create one with `sith decompose`", path=path
            )
        try:
            result = cls.from_dict(d)
        except (KeyError, TypeError, ValueError, AttributeError, SithError) as exc:
            raise FormatError(
                f"{path} is a damaged sith decomposition file (bad or missing {exc}); "
                "re-run `sith decompose`",
                path=path,
            ) from None
        model, cfg = result.model, result.config
        if expect_fingerprint and model.fingerprint and model.fingerprint != expect_fingerprint:
            raise ModelMismatch(
                f"{path} was made for another model ({model.model_name} "
                f"{model.pretrained}); decompose this model first with `sith decompose`"
            )
        if expect_dictionary_hash and cfg.dictionary_hash != expect_dictionary_hash:
            raise SithError(
                f"{path} was made from another version of dictionary {cfg.dictionary!r}; "
                "re-run `sith decompose`"
            )
        return result


def used_concepts(indices: Tensor, concepts: list[str]) -> dict[int, str]:
    """``{index: concept}`` for every non-negative index in ``indices`` (any shape)."""
    used = torch.unique(indices[indices >= 0]).tolist()
    return {int(i): concepts[int(i)] for i in used}


def components_of(
    decompositions: list[LayerDecomposition] | tuple[LayerDecomposition, ...],
) -> list[tuple[int, int, int]]:
    """Every ``(layer, head, index)`` of ``decompositions``, in layer, head, index order."""
    return [(d.layer, h, i) for d in decompositions for h in range(d.num_heads) for i in range(d.rank)]


def explanations_of(
    decompositions: list[LayerDecomposition] | tuple[LayerDecomposition, ...],
) -> list[list[tuple[str, float]]]:
    """One explanation per component, in the order of :func:`components_of`."""
    return [d.explanation(h, i) for d in decompositions for h in range(d.num_heads) for i in range(d.rank)]
