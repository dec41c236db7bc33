"""Find the decomposition files of one model and turn them into the explorer's data.

Reads only what every decomposition file has (docs/method.md §6; ``docs/design.md`` "Files"):
``scores``/``indices`` ``(H, rank, K)``, ``singular_values``, ``fidelity``, ``tied``
``(H, rank)``, ``concepts`` and ``config``, plus ``alt_*`` (the other polarity) when
present. Extra keys are ignored, so the format may grow.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sith.decompose.results import LayerDecomposition
from sith.errors import SithError
from sith.paths import model_dir

log = logging.getLogger(__name__)

#: Config keys that vary between the files of one explorable set (not part of its identity).
PER_FILE_KEYS = ("layer", "sv_type", "sith_version", "model", "n_concepts")


@dataclass(frozen=True)
class DecompositionSet:
    """The decompositions shown on one page: one configuration, one model.

    Attributes:
        files: ``{(layer, sv_type): LayerDecomposition}``.
        model: the model's provenance (``config["model"]``: name, tag, fingerprint).
        config: the shared configuration (dictionary, method, sparsity, fold-ln, ...).
    """

    files: dict[tuple[int, str], LayerDecomposition]
    model: dict[str, Any]
    config: dict[str, Any]

    @property
    def layers(self) -> list[int]:
        return sorted({layer for layer, _ in self.files})

    @property
    def sv_types(self) -> list[str]:
        """``right`` first (the default, what heads write), then ``left``."""
        return sorted({sv for _, sv in self.files}, key=lambda s: (s != "right", s))


def shared_config(config: dict[str, Any]) -> dict[str, Any]:
    """A file's configuration without its per-file keys (layer, sv-type, version, model)."""
    return {k: v for k, v in config.items() if k not in PER_FILE_KEYS}


def describe(config: dict[str, Any]) -> str:
    """``comp-0.3 K=5 organism foldln`` — a configuration in a few words."""
    fold = "foldln" if config.get("fold_ln", True) else "nofoldln"
    name = config.get("dictionary_name") or config.get("dictionary")
    return f"{config.get('method')} K={config.get('sparsity')} {name} {fold}"


def decomposition_dir(data_dir: str | Path, model_name: str, pretrained: str) -> Path:
    """``data/models/{model}/{pretrained}/decompositions``."""
    return model_dir(data_dir, model_name, pretrained) / "decompositions"


def find_decompositions(
    directory: str | Path,
    *,
    layers: list[int] | None = None,
    method: str | None = None,
    sparsity: int | None = None,
    dictionary: str | None = None,
) -> DecompositionSet:
    """Load every decomposition in ``directory`` and pick one configuration of one model.

    Raises :class:`SithError` when none is found, when files of different models are
    mixed, when several configurations remain after the filters (listing them), or when
    a requested layer has no file.
    """
    directory = Path(directory)
    paths = sorted(directory.glob("*.pt")) if directory.is_dir() else []
    if not paths:
        raise SithError(
            f"no decompositions found in {directory}; run `sith decompose` first "
            "(or pass the --data-dir/--model-name/--pretrained they were made with)"
        )
    loaded = [(p, LayerDecomposition.load(p)) for p in paths]
    first_path, first = loaded[0]
    for p, d in loaded[1:]:
        if d.model.fingerprint != first.model.fingerprint:
            a, b = first.model, d.model
            raise SithError(
                f"decompositions of different models are mixed in {directory}: {first_path.name} is "
                f"{a.model_name} {a.pretrained}, {p.name} is {b.model_name} {b.pretrained}; "
                "move the foreign files out or re-run `sith decompose`"
            )
    kept = [
        (p, d)
        for p, d in loaded
        if (layers is None or d.layer in layers)
        and (method is None or d.method == method)
        and (sparsity is None or d.sparsity == sparsity)
        and (dictionary is None
             or dictionary in (d.config.get("dictionary"), d.config.get("dictionary_name")))
    ]
    if not kept:
        raise SithError(
            f"no decomposition in {directory} matches the filters; found {len(loaded)} file(s) with "
            f"layers {sorted({d.layer for _, d in loaded})}, configurations "
            f"{sorted({describe(d.config) for _, d in loaded})}"
        )
    groups: dict[str, list[tuple[Path, LayerDecomposition]]] = {}
    for p, d in kept:
        groups.setdefault(json.dumps(shared_config(d.config), sort_keys=True, default=str), []).append((p, d))
    seed = [k for k, g in groups.items() if not g[0][1].options]
    if len(groups) > 1 and len(seed) == 1:  # the seed's recipe beside option runs (e.g. --rank 8)
        others = sorted(describe(g[0][1].config) + f" {g[0][1].options}"
                        for k, g in groups.items() if k != seed[0])
        log.info("%s also holds other configurations (%s); showing the seed recipe's", directory,
                 "; ".join(others))
        groups = {seed[0]: groups[seed[0]]}
    if len(groups) > 1:
        configs = [shared_config(g[0][1].config) for g in groups.values()]
        differ = sorted({k for c in configs for k in c if any(o.get(k) != c.get(k) for o in configs)})
        names = sorted({describe(c) for c in configs})
        raise SithError(
            f"{directory} holds {len(groups)} configurations ({'; '.join(names)}; they differ in "
            f"{', '.join(differ)}); pick one with --method/--sparsity/--dictionary or move the others out"
        )
    (group,) = groups.values()
    files = {(d.layer, d.sv_type): d for _, d in group}
    missing = sorted(set(layers or []) - {layer for layer, _ in files})
    if missing:
        raise SithError(
            f"no decomposition of layer {missing[0]} in {directory}; run `sith decompose --layers "
            f"{' '.join(map(str, missing))}` or drop it from --layers"
        )
    d0 = group[0][1]
    return DecompositionSet(files, dict(d0.config["model"]), shared_config(d0.config))


def concept_hue(text: str) -> int:
    """A stable hue (0–359) for a concept string, so one theme has one colour everywhere."""
    return zlib.crc32(text.encode("utf-8")) % 360


def head_theme(dec: LayerDecomposition, head: int, *, top: int = 3) -> list[tuple[str, float]]:
    """A head's theme: its concepts ranked by ``Σ_i (σ_i / Σσ) · w_i(c)`` over its components.

    A concept scores high when it is frequent (appears in many components) and heavy
    (large weights in components with large singular values). Returns ``top`` pairs
    ``(concept, share)``, share = the concept's score over the sum of all scores. Without
    stored singular values (a file made by the seed's code) every component weighs the same.
    """
    S = dec.singular_values[head].double().nan_to_num(1.0).clamp_min(0)  # nan: not stored (seed file)
    sigma = S / S.sum().clamp_min(1e-12)
    score: Counter[str] = Counter()
    for i in range(dec.rank):
        for c, w in dec.explanation(head, i):
            score[c] += float(sigma[i]) * abs(w)
    total = sum(score.values()) or 1.0
    return [(c, v / total) for c, v in score.most_common(top)]
