"""Score SITH's explanations of the organism against the world's known concepts.

``sith organism eval`` decomposes the organism's heads with every method and reports:

* **factor-value recall** — for each factor, the share of its values (a synonym counts)
  that are the top concept of at least one singular vector in the analysed layers;
* **theme purity** — per head, the share of its vectors' top concepts that belong to
  the head's most common factor (distractor words count against it), averaged;
* **fidelity** — mean cosine between vector and reconstruction;
* **coherence** — mean pairwise cosine between the atoms of one explanation.

The same table, over settings instead of methods, settles METHOD.md's open choices
(atoms mode / image mean, fold-LN, polarity rule): see ``docs/choices.md``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from sith.decompose import default_layers
from sith.decompose.results import LayerDecomposition

DEFAULT_METHODS = ("topk", "mp", "omp", "comp-0.1", "comp-0.3", "comp-0.5", "ncomp-0.3", "somp", "lasso")


def concept_factors(concepts: list[str]) -> dict[int, tuple[str, str]]:
    """``{pool index: (factor, canonical value)}`` for every pool concept that names a
    world concept (a factor value or its synonym, a bird class, an unsafe word)."""
    from sith.organism.world import FACTORS, SPURIOUS_CLASSES, SYNONYMS, UNSAFE_WORDS

    lookup: dict[str, tuple[str, str]] = {}
    for factor, values in FACTORS.items():
        for v in values:
            lookup[v] = (factor, v)
            for s in SYNONYMS.get(v, ()):
                lookup[s] = (factor, v)
    for v in SPURIOUS_CLASSES:
        lookup[v] = ("bird", v)
        for s in SYNONYMS.get(v, ()):
            lookup[s] = ("bird", v)
    for w in UNSAFE_WORDS:
        lookup[w] = ("unsafe", "skull")
    return {i: lookup[c.lower()] for i, c in enumerate(concepts) if c.lower() in lookup}


def top_concepts(dec: LayerDecomposition) -> Tensor:
    """``(num_heads, rank)`` index of the largest-weight concept of each explanation (-1 if none)."""
    pos = dec.scores.abs().argmax(-1, keepdim=True)
    top = torch.gather(dec.indices, -1, pos).squeeze(-1)
    return torch.where(dec.scores.abs().amax(-1) > 0, top, torch.full_like(top, -1))


def score(decs: list[LayerDecomposition], concepts: list[str], atoms: Tensor) -> dict[str, Any]:
    """Recall per factor, purity, fidelity and coherence of a set of layer decompositions."""
    from sith.organism.world import FACTORS

    mapping = concept_factors(concepts)
    found: dict[str, set[str]] = {f: set() for f in FACTORS}
    purities, coherences, fidelities = [], [], []
    for dec in decs:
        top = top_concepts(dec)
        fidelities.append(dec.fidelity.flatten())
        for h in range(dec.num_heads):
            facts = [mapping.get(int(i)) for i in top[h].tolist()]
            for f in facts:
                if f is not None and f[0] in found:
                    found[f[0]].add(f[1])
            counts = Counter(f[0] for f in facts if f is not None)
            purities.append(counts.most_common(1)[0][1] / len(facts) if counts else 0.0)
        idx = dec.indices.reshape(-1, dec.sparsity)
        for row in idx:
            used = row[row >= 0]
            if len(used) > 1:
                a = atoms[used]
                g = a @ a.T
                n = len(used)
                coherences.append(float((g.sum() - g.diagonal().sum()) / (n * (n - 1))))
    recall = {f: len(found[f]) / len(v) for f, v in FACTORS.items()}
    return {
        "recall": recall,
        "mean_recall": sum(recall.values()) / len(recall),
        "purity": sum(purities) / max(len(purities), 1),
        "fidelity": float(torch.cat(fidelities).mean()),
        "coherence": sum(coherences) / max(len(coherences), 1),
    }


def evaluate_config(ws: Any, request: Any) -> dict[str, Any]:
    """One :func:`score` row for a decomposition configuration (nothing written)."""
    config = ws.resolve(request)
    atoms = ws.atoms(config)
    decs = [ws.decompose_one(config, layer, atoms) for layer in config.layers]
    seed_atoms = ws.atoms(config.resolved(atoms="center"))
    return {
        "layers": list(config.layers),
        "options": config.options(),
        **score(decs, ws.encoded().concepts, seed_atoms),
    }


def format_rows(rows: list[dict[str, Any]], key: str = "method") -> str:
    from sith.organism.world import FACTORS

    factors = list(FACTORS)
    width = {f: max(7, len(f) + 1) for f in factors}  # full factor names, never cut
    head = (
        f"{key:<22}"
        + "".join(f"{f:>{width[f]}}" for f in factors)
        + f"{'recall':>8}{'purity':>8}{'fid':>7}{'coher':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{str(r[key]):<22}"
            + "".join(f"{r['recall'][f]:>{width[f]}.2f}" for f in factors)
            + f"{r['mean_recall']:>8.2f}{r['purity']:>8.2f}{r['fidelity']:>7.2f}{r['coherence']:>7.2f}"
        )
    return "\n".join(lines)


#: ``sith organism eval --settings``: the seed's recipe and one row per project option.
SETTINGS = {
    "seed (comp-0.3)": {},
    "polarity=best": {"polarity": "best"},
    "atoms=raw": {"atoms": "raw"},
    "atoms=image-cone": {"atoms": "image-cone"},
    "no-image-mean": {"image_mean": False},
    "ncomp-0.3": {"method": "ncomp-0.3"},
    "nofoldln": {"fold_ln": False},
    "sv-type=left": {"sv_type": "left"},
}


def evaluate(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    methods: list[str] | None = None,
    layers: list[int] | None = None,
    sparsity: int = 5,
    settings: bool = False,
    data_dir: Any = "data",
    device: str = "cpu",
    progress: bool = True,
) -> tuple[str, dict[str, Any]]:
    """What ``sith organism eval`` prints and writes: one row per method (seed recipe
    otherwise) and, with ``settings``, one row per project option (all ``comp-0.3``)."""
    from sith.load import load_clip
    from sith.load.clip import default_names
    from sith.organism.inputs import organism_workspace
    from sith.pipeline import DecompositionConfig

    methods = list(methods or DEFAULT_METHODS)
    for m in methods:  # bad flags fail before the model loads
        DecompositionConfig("", "", method=m, sparsity=sparsity)
    clip = load_clip(*default_names(model_name, pretrained), device=device)
    ws = organism_workspace(clip, data_dir=data_dir, device=device, progress=progress)
    layers = layers or default_layers(ws.weights.n_layers, last=2)
    info = ws.clip.info

    def request(**kw: Any) -> Any:
        return DecompositionConfig(
            info.model_name, info.pretrained, layers=tuple(layers), sparsity=sparsity, **kw
        )

    names = methods + (list(SETTINGS) if settings else [])
    bar = tqdm(total=len(names), desc="organism eval", unit="config", disable=not progress)

    def run(name: str, config: Any) -> dict[str, Any]:
        bar.set_postfix_str(name)
        out = evaluate_config(ws, config)
        bar.update()
        return out

    rows = [{"method": m, **run(m, request(method=m))} for m in methods]
    text = f"layers {layers}, K={sparsity}, seed recipe (right, foldln, atoms center, image mean)\n"
    text += format_rows(rows)
    results: dict[str, Any] = {
        "model": info.as_dict(),
        "layers": layers,
        "sparsity": sparsity,
        "methods": rows,
    }
    if settings:
        srows = [
            {"setting": name, **run(name, request(**opts))} for name, opts in SETTINGS.items()
        ]
        text += "\n\nsettings (comp-0.3 unless named)\n" + format_rows(srows, key="setting")
        results["settings"] = srows
    bar.close()
    return text, results
