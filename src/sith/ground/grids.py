"""PNG grids of grounded components: top images of each sign with patch heatmaps.

One PNG per analysed (layer, head): two rows per shown component (``+``: largest
activations, ``−``: most negative), ``grid_images`` columns. Each cell shows the image as
the model saw it, overlaid with the component's per-patch terms
``s_i · a_t · ⟨x̂_t, u_i⟩`` (bilinearly upsampled, diverging colours, red = pushes the
activation up) and the activation in the title. Needs matplotlib (Agg backend).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sith.errors import SithError
from sith.ground.run import Grounding
from sith.io import atomic_write

WORLD_LABEL_KEYS = ("color", "shape", "size", "background")


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SithError("PNG grids need matplotlib: pip install matplotlib, or pass --no-grids") from None
    return plt


def heatmap(patches: torch.Tensor, grid: tuple[int, int], size: int) -> np.ndarray:
    """``(size, size)`` bilinear upsampling of per-patch terms ``(P,)`` laid out as ``grid``."""
    m = patches.float().reshape(1, 1, *grid)
    return F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy()


def write_grids(g: Grounding, out_dir: str | Path) -> list[Path]:
    """Write every (layer, head) grid under ``out_dir``; returns the PNG paths."""
    plt = _pyplot()
    out = []
    for layer in g.layers:
        n_heads = g.trackers[layer].values.shape[1]
        for h in range(n_heads):
            fig = head_figure(plt, g, layer, h)
            path = Path(out_dir) / f"layer-{layer:02d}_head-{h:02d}.png"
            atomic_write(path, lambda p, fig=fig: fig.savefig(p, format="png", dpi=80))
            plt.close(fig)
            out.append(path)
    return out


def head_figure(plt: Any, g: Grounding, layer: int, head: int) -> Any:
    """The matplotlib figure of one head (module doc)."""
    tr = g.trackers[layer]
    nc, ni = g.grid_components, g.grid_images
    fig, axes = plt.subplots(2 * nc, ni, figsize=(1.6 * ni, 1.8 * 2 * nc), squeeze=False)
    for c in range(nc):
        for s, mark in enumerate("+-"):
            row = 2 * c + s
            vals = tr.values[s, head, c]
            lim = float(tr.patches[s, head, c].float().abs().max()) or 1.0
            for j in range(ni):
                ax = axes[row, j]
                ax.set_xticks([])
                ax.set_yticks([])
                gi = int(tr.index[s, head, c, j])
                if gi < 0 or gi not in g.display:
                    ax.axis("off")
                    continue
                img = g.display[gi].numpy()
                ax.imshow(img)
                hm = heatmap(tr.patches[s, head, c, j], g.patch_grid, img.shape[0])
                ax.imshow(hm, cmap="RdBu_r", vmin=-lim, vmax=lim, alpha=0.45)
                ax.set_title(f"{float(vals[j]):+.2f}{_label(g, gi)}", fontsize=6)
                if j == 0:
                    sv = float(g.singular_values[layer][head, c])
                    ax.set_ylabel(f"c{c} {mark}\ns={sv:.2f}", fontsize=7)
    fig.suptitle(f"{g.info.model_name} layer {layer} head {head} ({g.count} images)", fontsize=9)
    fig.tight_layout()
    return fig


def _label(g: Grounding, gi: int) -> str:
    """A short world label for a title (``" red circle water"``) when known, else ''."""
    if not g.labels:
        return ""
    from sith.organism.world import FACTORS, SPURIOUS_CLASSES

    parts = []
    for key in WORLD_LABEL_KEYS:
        v = int(g.labels[key][gi])
        if key == "shape" and v < 0:
            parts.append(SPURIOUS_CLASSES[int(g.labels["bird"][gi])])
        elif v >= 0:
            parts.append(FACTORS[key][v][:5])
    if int(g.labels.get("unsafe", np.zeros(gi + 1))[gi]):
        parts.append("skull")
    return "\n" + " ".join(parts)
