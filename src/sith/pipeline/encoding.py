"""Orchestration of the encode stage's inputs: ``sith encode-dictionary`` and ``sith image-mean``.

Each loads the model, joins the torchrun job if there is one
(:func:`sith.encode.distributed.distributed`: gloo on CPU, nccl on CUDA with one GPU per
local rank) and runs the encode stage; alone, they behave as a plain call. Rank 0 writes
the seed-layout file; every rank returns its path.

Example::

    from sith.pipeline.encoding import image_mean
    image_mean("ViT-B-32", "laion2b_s34b_b79k", images="cc12m/{00000..01242}.tar",
               device="cuda", precision="bf16", workers=8)
"""

from __future__ import annotations

import logging
from pathlib import Path

from sith.encode.distributed import DistContext, barrier, checked, distributed
from sith.encode.images import compute_image_mean
from sith.encode.pools import POOLS, download_dictionary, read_pool
from sith.encode.sources import SKIP_BAD_DEFAULT, make_units
from sith.encode.text import encode_pool, encoded_path
from sith.errors import ConfigError
from sith.load import load_clip
from sith.load.clip import LoadedClip, default_names
from sith.paths import DEFAULT_DATA_DIR, dictionary_text_path, image_mean_path
from sith.pipeline.workspace import model_default_dictionary

__all__ = ["encode_dictionary", "image_mean"]


def _load(model_name: str | None, pretrained: str | None, ctx: DistContext) -> LoadedClip:
    if not ctx.is_main:  # one copy of the log, from rank 0
        logging.getLogger("sith").setLevel(logging.WARNING)
    return load_clip(*default_names(model_name, pretrained), device=ctx.device)


def encode_dictionary(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    dictionary: str | None = None,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    batch_size: int = 256,
    template: str | None = None,
    precision: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Encode a concept pool with the model's own text tower (cached, resumable, torchrun-aware).

    Returns the path of ``data/models/{model}/{pretrained}/dictionaries/NAME.pt`` (the seed's
    plain ``(N, e)`` tensor; ``NAME.tpl-<hex>.pt`` with a ``template``), metadata in ``.json``.
    """
    if batch_size < 1:
        raise ConfigError("batch_size", f"{{name}} must be >= 1, got {batch_size}", value=batch_size)
    with distributed(device) as ctx:
        clip = _load(model_name, pretrained, ctx)
        name = dictionary or model_default_dictionary(clip.info.model_name, clip.info.pretrained)
        if name in POOLS and not dictionary_text_path(data_dir, name).exists():
            checked(ctx, lambda: download_dictionary(name, data_dir=data_dir) if ctx.is_main else None)
            barrier(ctx)
        pool = read_pool(name, data_dir=data_dir)
        encode_pool(clip, pool, data_dir=data_dir, batch_size=batch_size, template=template,
                    precision=precision, force=force, progress=progress and ctx.is_main, dist=ctx)
        return encoded_path(data_dir, clip.info, pool.name, template)


def image_mean(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    images: str | Path,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    batch_size: int = 64,
    workers: int | None = None,
    precision: str = "fp32",
    decode: str = "pil",
    skip_bad: bool = SKIP_BAD_DEFAULT,
    restart: bool = False,
    progress: bool = True,
) -> Path:
    """Mean unit image embedding over a folder, file list or webdataset shards → ``image_mean.pt``.

    Under torchrun the units (shards) are split across ranks and the float64 sums
    all-reduced; an interrupted job resumes from ``image_mean.progress/``. See
    :func:`sith.encode.images.compute_image_mean` for every option.
    """
    with distributed(device) as ctx:
        checked(ctx, lambda: make_units(images))  # a bad source fails before the model loads
        clip = _load(model_name, pretrained, ctx)
        compute_image_mean(clip, images, data_dir=data_dir, batch_size=batch_size, workers=workers,
                           precision=precision, decode=decode, skip_bad=skip_bad, restart=restart,
                           progress=progress, dist=ctx)
        return image_mean_path(data_dir, clip.info.model_name, clip.info.pretrained)
