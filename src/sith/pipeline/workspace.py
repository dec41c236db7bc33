"""The orchestration layer: one loaded model, its inputs and its decompositions.

A :class:`Workspace` holds one model, the store it reads and writes its files through
(:mod:`sith.pipeline.store`: the data directory, or an in-memory overlay of it for dry runs)
and per-run caches (concept pools, encoded dictionaries, the image mean; each layer's SVD
is cached on the weight view, :func:`sith.factor.layer_svd`). Every command's work goes
through it:
:meth:`Workspace.decompose` writes files for a :class:`DecompositionConfig`;
:meth:`Workspace.decompositions` returns them, recomputing any file whose stored
configuration differs from the requested one (never a silent reuse, docs/method.md §6).
What is done with files (reuse, resume, seed-made files) is :mod:`sith.pipeline.decomposing`;
search and edits are :mod:`sith.pipeline.editing`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from sith import paths
from sith.decompose import LayerDecomposition, decompose_layer, default_layers, default_rank
from sith.decompose.config import DecompositionConfig, DecompositionRequest
from sith.decompose.layer import check_sparsity
from sith.encode import (
    POOLS,
    EncodedPool,
    Pool,
    dictionary_atoms,
    load_image_mean,
    read_pool,
    save_image_mean,
)
from sith.encode.pools import model_pool
from sith.errors import ConfigError, SithError
from sith.factor import check_layer
from sith.load.weights import VisionWeights
from sith.pipeline import decomposing, editing
from sith.pipeline.store import DiskStore, OverlayStore, Store
from sith.plugins import model_entry

if TYPE_CHECKING:
    from sith.load.clip import LoadedClip

log = logging.getLogger(__name__)

#: The seed's default dictionary for any model without a registered pool of its own.
SEED_DICTIONARY = "conceptnet"


def model_default_dictionary(model_name: str, pretrained: str | None = None) -> str:
    """``conceptnet`` (the seed's default), or the model's own pool when a plugin registered
    one (:func:`sith.encode.pools.register_model_pool`; the built-in organism's, per tag)."""
    return model_pool(model_name, pretrained) or SEED_DICTIONARY


ImageMeanSource = Callable[[Any], tuple[Tensor, dict[str, Any]]]


def tensor_hash(t: Tensor) -> str:
    """16 hex digits of sha256 over a tensor's float32 bytes (content identity)."""
    return hashlib.sha256(t.detach().float().contiguous().cpu().numpy().tobytes()).hexdigest()[:16]


@dataclass
class Caches:
    """What a workspace read or computed once per run (shared by its :meth:`Workspace.using`
    views; a :meth:`Workspace.read_only` workspace starts from a copy)."""

    pools: dict[str, Pool] = field(default_factory=dict)
    encoded: dict[tuple[str, str | None], EncodedPool] = field(default_factory=dict)
    image_mean: Tensor | None = None

    def copy(self) -> Caches:
        return Caches(dict(self.pools), dict(self.encoded), self.image_mean)


class Workspace:
    """One loaded model + its data, read and written through a store, with per-run caches.

    Args:
        clip: the loaded model.
        data_dir: the data root (the seed's layout); the store's root when ``store`` is None.
        device: compute device for the solvers.
        progress: progress bars.
        default_dictionary: the dictionary used when a configuration names none (default:
            the model's own pool when its plugin names one, else ``conceptnet``).
        image_mean_source: for models whose image mean can be made without user data —
            called when ``image_mean.pt`` is missing (default: the model plugin's, e.g. the
            organism's world images; :func:`sith.plugins.model_entry`).
        store: where files are read and written (default: :class:`DiskStore` of ``data_dir``;
            :meth:`read_only` gives a workspace over an :class:`OverlayStore`).
        caches: the per-run caches to share (:meth:`using`); default: new ones.
    """

    def __init__(
        self,
        clip: LoadedClip,
        *,
        data_dir: str | Path = paths.DEFAULT_DATA_DIR,
        device: str = "cpu",
        progress: bool = True,
        default_dictionary: str | None = None,
        image_mean_source: ImageMeanSource | None = None,
        store: Store | None = None,
        caches: Caches | None = None,
    ) -> None:
        self.clip = clip
        self.store: Store = store if store is not None else DiskStore(data_dir)
        self.device = device
        self.progress = progress
        self.default_dictionary = default_dictionary or model_default_dictionary(
            clip.info.model_name, clip.info.pretrained)
        entry = model_entry(clip.info.model_name)
        self.image_mean_source = image_mean_source or (entry.image_mean if entry is not None else None)
        self.caches = caches if caches is not None else Caches()

    @property
    def data_dir(self) -> Path:
        return self.store.root

    @property
    def weights(self) -> VisionWeights:
        return self.clip.weights

    def using(self, *, progress: bool) -> Workspace:
        """This workspace with other run options (``progress``): same model, store and caches."""
        return self._with(store=self.store, caches=self.caches, progress=progress)

    def read_only(self) -> Workspace:
        """A workspace over an in-memory overlay of this one's store: it reads what is on disk,
        and what it would write (missing encodings, image means, decompositions) it keeps in
        memory (a dry run writes nothing). This workspace is unchanged."""
        return self._with(store=OverlayStore(self.store), caches=self.caches.copy(), progress=self.progress)

    def _with(self, *, store: Store, caches: Caches, progress: bool) -> Workspace:
        return Workspace(
            self.clip,
            device=self.device,
            progress=progress,
            default_dictionary=self.default_dictionary,
            image_mean_source=self.image_mean_source,
            store=store,
            caches=caches,
        )

    # ------------------------------------------------------------------ inputs
    def encoded(self, dictionary: str | None = None, template: str | None = None) -> EncodedPool:
        """The dictionary encoded by this model (downloaded and encoded first if needed)."""
        key = (dictionary or self.default_dictionary, template)
        if key not in self.caches.encoded:
            pool = self.pool(key[0])
            self.caches.encoded[key] = self.store.encoded(
                self.clip, pool, template=template, progress=self.progress
            )
        return self.caches.encoded[key]

    def pool(self, dictionary: str | None = None) -> Pool:
        """The concept pool, read once per run (a known pool is downloaded first if it is not
        on disk yet)."""
        name = dictionary or self.default_dictionary
        if name not in self.caches.pools:
            if name in POOLS and not paths.dictionary_text_path(self.data_dir, name).exists():
                self.store.download_dictionary(name, progress=self.progress)
            self.caches.pools[name] = read_pool(name, data_dir=self.data_dir)
        return self.caches.pools[name]

    def check_inputs(self, dictionary: str | None, *, image_mean: bool) -> Pool:
        """The pool, read before anything is written: an image mean the model cannot make
        fails first (before a dictionary is downloaded); the organism's is made only after."""
        if image_mean and self.image_mean_source is None:
            self.image_mean()
        return self.pool(dictionary)

    def image_mean(self) -> Tensor:
        """The model's image mean ``(e,)`` (docs/method.md §4): ``image_mean.pt``, or made by the
        model's own source (the organism) when missing or stale; otherwise a one-line error
        naming the command that makes it."""
        if self.caches.image_mean is None:
            info = self.clip.info
            path = paths.image_mean_path(self.data_dir, info.model_name, info.pretrained)
            mean = self.store.read(path, self._read_image_mean)
            if mean is None and self.image_mean_source is None:
                raise ConfigError(
                    "image_mean",
                    f"no image mean for {info.model_name} {info.pretrained} at {path}; make it with "
                    "`sith image-mean --images DIR|SHARDS` (the seed uses CC12M), or pass {off}",
                )
            if mean is None:
                made, meta = self.image_mean_source(self.clip)
                made = made.detach().float().reshape(-1).cpu()
                mean = self.store.write(path, made, lambda m, p: save_image_mean(m, info, p, meta))
            self.caches.image_mean = mean
        return self.caches.image_mean

    def image_mean_if_any(self) -> Tensor | None:
        """The image mean when this model has one or can make one (:meth:`image_mean`), else None."""
        info = self.clip.info
        path = paths.image_mean_path(self.data_dir, info.model_name, info.pretrained)
        if self.caches.image_mean is None and self.image_mean_source is None and not path.exists():
            return None
        return self.image_mean()

    def _read_image_mean(self, path: Path) -> Tensor | None:
        """``path`` checked against this model; a stale file is None when the model's own source
        can remake it (and an error otherwise)."""
        try:
            return load_image_mean(path, expect_model=self.clip.info, expect_width=self.weights.d_embed)
        except SithError as exc:
            if self.image_mean_source is None:
                raise
            log.warning("remaking the image mean: %s", exc)
            return None

    # ------------------------------------------------------------------ actions (one session)
    def request(self, **options: Any) -> DecompositionRequest:
        """A :class:`DecompositionRequest` (``options``: its fields, checked; unset ones are the
        seed recipe's defaults, resolved against this model by :meth:`resolve`)."""
        return DecompositionRequest.from_options(options)

    def search(
        self,
        concept: str,
        *,
        top: int = 20,
        layers: list[int] | None = None,
        config: DecompositionConfig | None = None,
        **options: Any,
    ) -> Any:
        """Components whose targets align with ``concept`` + its familiarity (:func:`editing.search`);
        targets and atoms made as ``config`` (a decomposition's, e.g. the explored one) or
        ``options`` say."""
        config = config if config is not None else self.request(**options)
        return editing.search(self, config, concept, top=top, layers=layers)

    def plan(self, request: Any) -> Any:
        """The :class:`~sith.edit.EditPlan` of an :class:`~sith.edit.EditRequest`, nothing written
        (:func:`editing.plan`)."""
        return editing.plan(self, request)

    def apply(self, plan: Any) -> Any:
        """The edited model in memory, a new ``LoadedClip`` (:func:`editing.apply`)."""
        return editing.apply(self, plan)

    def save(self, plan: Any, output: str | Path | None = None) -> tuple[Path, Path]:
        """The edited checkpoint and its log, ``(checkpoint, log)`` (:func:`editing.save`)."""
        return editing.save(self, plan, output)

    def decomposition(self, layer: int, **options: Any) -> LayerDecomposition:
        """One layer's decomposition (``options``: those of :meth:`request`), read when stored with
        the same configuration, else computed (and written, outside :meth:`read_only`)."""
        return self.decompositions(self.request(layers=[layer], **options))[1][0]

    def ground(
        self, source: Any, *, grids: bool = True, output_dir: str | Path | None = None, **options: Any
    ) -> list[Path]:
        """Ground this model's components in ``source`` (a checked :class:`sith.ground.ImageSource`)
        and write the files (docs/grounding.md) to ``output_dir`` or
        ``DATA_DIR/models/{model}/{pretrained}/grounding/{source}``; ``options``: those of
        :func:`sith.ground.ground` (``layers``, ``rank``, ``k``, ``grid_components``, ...).
        Returns the written paths: ``layer-{l:02d}.pt`` per layer, ``summary.json``, grid PNGs."""
        from sith.ground import ground, save_grounding
        from sith.ground.save import grounding_dir

        root = self.store.output_dir(Path(output_dir) if output_dir else self.data_dir, "grounding")
        if not grids:
            options["grid_components"] = 0
        g = ground(self.clip, source, **{"progress": self.progress, **options})
        out = root if output_dir else grounding_dir(root, self.clip.info, g.source)
        return save_grounding(g, out, grids=grids)

    # ------------------------------------------------------------------ configs
    def resolve(self, request: DecompositionRequest) -> DecompositionConfig:
        """The request with concrete layers, rank, dictionary and every content hash.

        Every input is checked (layers, rank, the dictionary readable, K ≤ its size) before
        anything is written (the organism's image mean, an encoded dictionary)."""
        w = self.weights
        layers = (
            tuple(check_layer(w, i) for i in request.layers)
            if request.layers
            else tuple(default_layers(w.n_layers))
        )
        rank = default_rank(w, request.rank)
        pool = self.check_inputs(request.dictionary, image_mean=request.uses_image_mean)
        check_sparsity(request.sparsity, len(pool))
        mean_hash = tensor_hash(self.image_mean()) if request.uses_image_mean else ""
        encoded = self.encoded(request.dictionary, request.template)
        return request.resolved(
            model_name=self.clip.info.model_name,
            pretrained=self.clip.info.pretrained,
            fingerprint=self.clip.info.fingerprint,
            layers=layers,
            rank=rank,
            dictionary=request.dictionary or self.default_dictionary,
            dictionary_name=encoded.name,
            dictionary_hash=encoded.pool_hash,
            image_mean_hash=mean_hash,
            head_width=w.d_head,
        )

    def atoms(self, config: DecompositionConfig) -> Tensor:
        """The dictionary atoms ``(N, e)`` of ``config`` (docs/method.md §4)."""
        encoded = self.encoded(config.dictionary, config.template)
        mean = self.image_mean() if config.atoms == "image-cone" else None
        return dictionary_atoms(encoded.embeddings, mode=config.atoms, image_mean=mean)

    # ------------------------------------------------------------------ decompositions
    def decompose(self, request: DecompositionConfig, *, force: bool = False) -> list[Path]:
        """Write one decomposition file per layer of ``request``; finished layers whose stored
        configuration matches are kept (so an interrupted run resumes) unless ``force``."""
        config = self.resolve(request)
        return [path for path, _ in decomposing.ensure(self, config, force=force)]

    def decompositions(
        self, request: DecompositionConfig
    ) -> tuple[DecompositionConfig, list[LayerDecomposition]]:
        """The resolved configuration and its layers' decompositions (computed where missing
        or made with another configuration)."""
        config = self.resolve(request)
        return config, [dec for _, dec in decomposing.ensure(self, config, force=False)]

    def decompose_one(
        self, config: DecompositionConfig, layer: int, atoms: Tensor, *, heads: range | None = None
    ) -> LayerDecomposition:
        """One layer of ``config`` (resolved; ``heads``: only those), not written."""
        encoded = self.encoded(config.dictionary, config.template)
        return decompose_layer(
            self.weights,
            atoms,
            encoded.concepts,
            layer,
            config,
            image_mean=self.image_mean() if config.image_mean else None,
            device=self.device,
            heads=heads,
            progress=self.progress,
        )
