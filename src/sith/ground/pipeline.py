"""What ``sith ground`` calls: load the model, ground it in the images, write the files."""

from __future__ import annotations

from pathlib import Path

from sith.encode.sources import SKIP_BAD_DEFAULT
from sith.ground.run import ground
from sith.ground.save import grounding_dir, save_grounding
from sith.ground.sources import ImageSource
from sith.load.clip import default_names, load_clip
from sith.paths import DEFAULT_DATA_DIR


def ground_model(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    images: str | Path | None = None,
    world: int = 0,
    world_seed: int = 0,
    world_variant: str = "train",
    layers: list[int] | None = None,
    rank: int | None = None,
    k: int = 16,
    batch_size: int = 64,
    skip_bad: bool = SKIP_BAD_DEFAULT,
    keep_all: bool = False,
    grids: bool = True,
    grid_components: int = 4,
    grid_images: int = 8,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    output_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> list[Path]:
    """Ground a model's components in ``images`` (folder, ``.tar`` shard, glob, file list)
    or ``world`` organism images, and write the grounding files (docs/grounding.md).

    Returns:
        The written paths: ``layer-{l:02d}.pt`` per layer, ``summary.json``, grid PNGs.
    """
    source = ImageSource(
        path=None if images is None else str(images), world=world, world_seed=world_seed,
        world_variant=world_variant, skip_bad=skip_bad,
    )
    source.check()
    name, tag = default_names(model_name, pretrained)
    clip = load_clip(name, tag, device=device)
    g = ground(
        clip, source, layers=layers, rank=rank, k=k, batch_size=batch_size, keep_all=keep_all,
        grid_components=grid_components if grids else 0, grid_images=grid_images, progress=progress,
    )
    out = Path(output_dir) if output_dir else grounding_dir(data_dir, clip.info, g.source)
    return save_grounding(g, out, grids=grids)
