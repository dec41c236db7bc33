"""PNG grids of grounded components: top images of each sign with patch heatmaps.

One PNG per analysed (layer, head): two rows per shown component (``+``: largest
activations, ``−``: most negative), ``grid_images`` columns. Each cell shows the image as
the model saw it, overlaid with the component's per-patch terms
``s_i · a_t · ⟨x̂_t, u_i⟩`` (bilinearly upsampled; ColorBrewer's diverging ``RdBu``
reversed, as matplotlib's ``RdBu_r``: red = raises the activation; opacity ∝ |term|
relative to the row's largest) and the activation (plus the caption of its labels, for
world images: :mod:`sith.ground.registry`) above it. The canvas is composed with numpy and
written with Pillow (matplotlib's figure machinery took 2 s per grid), so grids need no
matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from sith.errors import SithError
from sith.ground.registry import WORLD, image_source
from sith.ground.run import Grounding
from sith.io import atomic_write

PAD_X, PAD_Y, LEFT, TOP = 10, 28, 64, 22
LINE_HEIGHT = 11  # pixels per label line (the 9-pixel default font)


#: ColorBrewer's 11-class ``RdBu`` (Cynthia Brewer, colorbrewer2.org), blue end first:
#: the control points of ``RdBu_r``, interpolated linearly as matplotlib does.
RDBU_R = np.array(
    [
        [0x05, 0x30, 0x61], [0x21, 0x66, 0xAC], [0x43, 0x93, 0xC3], [0x92, 0xC5, 0xDE],
        [0xD1, 0xE5, 0xF0], [0xF7, 0xF7, 0xF7], [0xFD, 0xDB, 0xC7], [0xF4, 0xA5, 0x82],
        [0xD6, 0x60, 0x4D], [0xB2, 0x18, 0x2B], [0x67, 0x00, 0x1F],
    ],
    dtype=np.float64,
) / 255.0


def colormap(x: np.ndarray) -> np.ndarray:
    """``RdBu_r`` of values ``x`` in [0, 1] (clipped): ``x.shape + (3,)`` RGB in [0, 1]."""
    t = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0) * (len(RDBU_R) - 1)
    lo = np.minimum(np.floor(t).astype(np.int64), len(RDBU_R) - 2)
    w = (t - lo)[..., None]
    return (1.0 - w) * RDBU_R[lo] + w * RDBU_R[lo + 1]


def heatmap(patches: torch.Tensor, grid: tuple[int, int], size: int) -> np.ndarray:
    """``(size, size)`` bilinear upsampling of per-patch terms ``(P,)`` laid out as ``grid``."""
    m = patches.float().reshape(1, 1, *grid)
    return F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy()


def overlay(img: np.ndarray, hm: np.ndarray, lim: float) -> np.ndarray:
    """``img (s, s, 3)`` in [0, 1] blended with the colour-mapped heatmap ``hm (s, s)``."""
    x = np.clip(hm / lim, -1.0, 1.0)
    color = colormap((x + 1.0) / 2.0)
    alpha = 0.6 * np.abs(x)[..., None]
    return (1 - alpha) * img + alpha * color


def write_grids(g: Grounding, out_dir: str | Path) -> list[Path]:
    """Write every (layer, head) grid under ``out_dir``; returns the PNG paths."""
    out = []
    for layer in g.layers:
        for h in range(g.trackers[layer].values.shape[1]):
            img = head_grid(g, layer, h)
            path = Path(out_dir) / f"layer-{layer:02d}_head-{h:02d}.png"
            atomic_write(path, lambda p, img=img: img.save(p, format="PNG", compress_level=1))
            out.append(path)
    return out


def head_grid(g: Grounding, layer: int, head: int) -> Image.Image:
    """The grid image of one head (module doc). Labels are shown in full, wrapped to the
    cell's width; the space above each row grows with the longest label."""
    tr = g.trackers[layer]
    nc, ni = g.grid_components, g.grid_images
    size = next(iter(g.display.values())).shape[0] if g.display else 96
    small, big = ImageFont.load_default(size=9), ImageFont.load_default(size=11)
    cells = []  # (c, s, j, gi, label lines)
    for c in range(nc):
        for s in range(2):
            for j in range(ni):
                gi = int(tr.index[s, head, c, j])
                if gi < 0 or gi not in g.display:
                    continue
                lines = [f"{float(tr.values[s, head, c, j]):+.2f}",
                         *wrap_words(label_words(g, gi), small, size + PAD_X - 2)]
                cells.append((c, s, j, gi, lines))
    n_lines = max((len(cell[4]) for cell in cells), default=1)
    pad_y = max(PAD_Y, 6 + n_lines * LINE_HEIGHT)
    H = TOP + 2 * nc * (size + pad_y)
    W = LEFT + ni * (size + PAD_X)
    canvas = np.ones((H, W, 3), dtype=np.float32)
    texts: list[tuple[tuple[float, float], str, str]] = []
    for c in range(nc):
        for s, mark in enumerate("+-"):
            y0 = TOP + (2 * c + s) * (size + pad_y) + pad_y
            sv = float(g.singular_values[layer][head, c])
            texts.append(((4, y0 + size / 2), f"c{c} {mark}\ns={sv:.2f}", "lm"))
    for c, s, j, gi, lines in cells:
        y0 = TOP + (2 * c + s) * (size + pad_y) + pad_y
        x0 = LEFT + j * (size + PAD_X)
        lim = float(tr.patches[s, head, c].float().abs().max()) or 1.0
        img = g.display[gi].numpy().astype(np.float32) / 255.0
        hm = heatmap(tr.patches[s, head, c, j], g.patch_grid, size)
        canvas[y0 : y0 + size, x0 : x0 + size] = overlay(img, hm, lim)
        texts.append(((x0 + size / 2, y0 - 2), "\n".join(lines), "md"))
    out = Image.fromarray((canvas * 255).round().astype(np.uint8))
    draw = ImageDraw.Draw(out)
    for xy, text, anchor in texts:
        draw.multiline_text(xy, text, fill=(0, 0, 0), font=small, anchor=anchor, align="center")
    title = (f"{g.info.model_name} layer {layer} head {head} ({g.count} images); "
             "red/blue: patches raising/lowering the activation")
    draw.text((W / 2, TOP / 2), title, fill=(0, 0, 0), font=big, anchor="mm")
    return out


def label_words(g: Grounding, gi: int) -> list[str]:
    """The registered world source's labels of image ``gi``, in full (``["red", "circle",
    "small", "water"]``), when known, else ``[]``."""
    if not g.labels:
        return []
    try:
        caption = image_source(WORLD).caption
    except SithError:  # labels read back without the plugin that made them
        return []
    return caption({key: int(v[gi]) for key, v in g.labels.items()}).split()


def wrap_words(words: list[str], font: Any, width: float) -> list[str]:
    """Greedy lines of ``words`` no wider than ``width`` pixels in ``font`` (a word wider
    than that gets its own line, uncut)."""
    lines: list[str] = []
    for word in words:
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines
