"""Static explanation metrics against the world's ground truth (``sith organism eval``).

* **factor-value recall** — for each factor, the share of its values (a synonym counts)
  that are the top concept of at least one singular vector in the analysed layers
  (``learned_recall``: the mean over the four factors the organism learned);
* **theme purity** — per head, the share of its vectors' top concepts that belong to
  the head's most common factor (distractor words count against it), averaged;
* **fidelity** — mean cosine between vector and reconstruction;
* **coherence** — mean pairwise cosine between the atoms of one explanation.

None of these looks at the model's behaviour; :mod:`sith.organism_eval.validation` puts each
beside null baselines (issue 11), and :mod:`sith.organism_eval.grounded` checks explanations
against images.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import Tensor

from sith.decompose.results import LayerDecomposition
from sith.organism_eval.grounded import LEARNED, concept_factors
from sith.organism.world import FACTORS


def top_concepts(dec: LayerDecomposition) -> Tensor:
    """``(num_heads, rank)`` index of the largest-weight concept of each explanation (-1 if none)."""
    pos = dec.scores.abs().argmax(-1, keepdim=True)
    top = torch.gather(dec.indices, -1, pos).squeeze(-1)
    return torch.where(dec.scores.abs().amax(-1) > 0, top, torch.full_like(top, -1))


def score(decs: list[LayerDecomposition], concepts: list[str], atoms: Tensor) -> dict[str, Any]:
    """Recall per factor, purity, fidelity and coherence of a set of layer decompositions."""
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
        "learned_recall": sum(recall[f] for f in LEARNED) / len(LEARNED),
        "purity": sum(purities) / max(len(purities), 1),
        "fidelity": float(torch.cat(fidelities).mean()),
        "coherence": sum(coherences) / max(len(coherences), 1),
    }
