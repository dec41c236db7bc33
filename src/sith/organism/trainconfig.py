"""The organism's training configuration (:class:`TrainConfig`) and its named recipes.

The defaults are organism-v1's run (docs/organism.md). Every other choice is a named field,
recorded with the checkpoint: ``world`` (the generator's world, :data:`sith.organism.vocab.WORLDS`),
``mlp_free_last`` (the last blocks' MLPs zeroed and frozen: the model stays an ordinary
open_clip CLIP), and the head-routing objective (``routing_*``, :mod:`sith.organism.routing`),
off by default. :func:`v2_config` is the known-circuit organism's recipe (routed or control).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sith.errors import SithError
from sith.organism.captions import DEFAULT_RATES
from sith.organism.vocab import WORLDS

#: Factors a training twin may switch (``unsafe``: the skull on/off).
TWIN_FACTORS = ("shape", "color", "size", "position", "background", "count", "bird", "unsafe")
#: Which caption rate names each twin factor (twin captions always state it).
TWIN_RATE = {"shape": "object", "color": "color", "size": "size", "position": "position",
             "background": "background", "count": "number", "bird": "object", "unsafe": "unsafe"}
#: Twins of the v2 recipe: every routed factor, shape twice (eight classes, the hardest).
V2_TWINS = ("shape", "shape", "color", "size", "background", "bird", "unsafe")
#: Head assignments of the routing objective: factor -> ((layer, head), ...). ``v2`` puts
#: background, colour and the skull in the second-to-last block and shape (two heads),
#: size and the bird in the last; ``tiny`` fits a 2-block, 2-head test model.
ASSIGNMENTS: dict[str, dict[str, tuple[tuple[int, int], ...]]] = {
    "v2": {"background": ((4, 0),), "color": ((4, 1),), "unsafe": ((4, 2),),
           "shape": ((5, 0), (5, 1)), "size": ((5, 2),), "bird": ((5, 3),)},
    "tiny": {"background": ((0, 0),), "color": ((1, 0),), "shape": ((1, 1),)},
}
#: ``v2`` without the bird: its same-background bird term erased the habitat shortcut the
#: acceptance requires (routed seed 0: every bird group 1.0), so the birds keep the natural,
#: spurious mechanism the spurious experiment studies (docs/organism.md, "Organism v2").
ASSIGNMENTS["v2-nobird"] = {f: h for f, h in ASSIGNMENTS["v2"].items() if f != "bird"}
#: Fields that may differ between a routed run and the control it branches from.
ROUTING_FIELDS = ("routing_weight", "routing_penalty", "routing_start", "routing_ramp",
                  "routing_gate", "routing_scale", "routing_assignment", "snapshot_at")


@dataclass(frozen=True)
class TrainConfig:
    """Architecture and optimisation settings of an organism run (validated on creation).

    The defaults are the shipped organism's run (docs/organism.md).
    """

    image_size: int = 64
    patch_size: int = 8
    vision_width: int = 128
    vision_layers: int = 6
    vision_heads: int = 8
    text_width: int = 128
    text_layers: int = 3
    text_heads: int = 8
    context_length: int = 32
    embed_dim: int = 128
    batch_size: int = 128
    steps: int = 2000
    lr: float = 1e-3
    warmup: int = 150
    weight_decay: float = 0.1
    hard_negative_frac: float = 0.375
    twin_factors: tuple[str, ...] = ("shape", "shape", "size", "bird")
    seed: int = 0
    checkpoint_every: int = 100
    threads: int = 2
    caption_rates: dict[str, float] = field(default_factory=dict)
    """Overrides of :data:`sith.organism.captions.DEFAULT_RATES` (how often a caption
    names each factor); empty = the defaults (organism-v1's run)."""
    world: str = "v1"
    """The generator's world (``v2``: coloured skulls, distractor words, exact twins)."""
    mlp_free_last: int = 0
    """The last this-many vision blocks have their MLP zeroed and frozen."""
    routing_weight: float = 0.0
    """Weight of the assigned heads' classification term; 0 with ``routing_penalty`` 0 = off."""
    routing_penalty: float = 0.0
    """Weight of the other components' share of each factor's direct margin."""
    routing_start: float = 0.45
    """Routing switches on at this fraction of ``steps`` (earlier: contrastive only)."""
    routing_ramp: int = 200
    """Steps over which the routing weights ramp linearly from 0."""
    routing_gate: float = 0.8
    """A factor's penalty applies once its assigned heads' balanced accuracy (EMA) reaches this."""
    routing_scale: float = 50.0
    """Logit scale of the assigned heads' direct contribution against the class texts."""
    routing_assignment: str = "v2"
    """Key of :data:`ASSIGNMENTS` (recorded as the explicit mapping in the checkpoint)."""
    snapshot_at: int = 0
    """Also keep ``checkpoint-{snapshot_at}.pt`` (a routed run branches from it); 0 = none."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "twin_factors", tuple(self.twin_factors))
        _validate(self)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @property
    def routed(self) -> bool:
        """Whether the head-routing objective is on."""
        return self.routing_weight > 0 or self.routing_penalty > 0

    @property
    def routing_start_step(self) -> int:
        """The first step with routing (:attr:`routing_start` of :attr:`steps`)."""
        return int(round(self.routing_start * self.steps))

    def assignment(self) -> dict[str, tuple[tuple[int, int], ...]]:
        """The head assignment, factor -> ((layer, head), ...)."""
        return ASSIGNMENTS[self.routing_assignment]

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise SithError(f"unknown TrainConfig fields {unknown}; valid: {sorted(names)}")
        defaults = cls()
        return cls(**{k: _typed(k, v, getattr(defaults, k)) for k, v in data.items()})  # type: ignore[arg-type]


def _typed(name: str, value: object, default: object) -> object:
    """``value`` checked against the type of the field's default (``--set KEY=VALUE``)."""
    if isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, want = isinstance(value, int | float) and not isinstance(value, bool), "a number"
    elif isinstance(default, dict):
        ok = isinstance(value, dict) and all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in value.values())
        want = 'a JSON object of numbers, e.g. {"size": 0.8}'
    elif isinstance(default, tuple):
        ok, want = isinstance(value, list | tuple) and all(isinstance(x, str) for x in value), "a list"
        value = tuple(value) if ok else value  # type: ignore[arg-type]
    else:
        ok, want = True, ""
    if not ok:
        raise SithError(f"TrainConfig.{name} must be {want}, got {value!r}; e.g. --set {name}={default!r}")
    return value


def _validate(c: TrainConfig) -> None:
    positive = ("image_size", "patch_size", "vision_width", "vision_layers", "vision_heads",
                "text_width", "text_layers", "text_heads", "context_length", "embed_dim",
                "steps", "checkpoint_every", "threads")
    for name in positive:
        if int(getattr(c, name)) < 1:
            raise SithError(f"TrainConfig.{name} must be >= 1, got {getattr(c, name)}")
    if c.vision_width % c.vision_heads:
        raise SithError(f"vision_width {c.vision_width} is not divisible by vision_heads "
                        f"{c.vision_heads}; pick a width that is a multiple of the heads")
    if c.text_width % c.text_heads:
        raise SithError(f"text_width {c.text_width} is not divisible by text_heads "
                        f"{c.text_heads}; pick a width that is a multiple of the heads")
    if c.image_size % c.patch_size:
        raise SithError(f"image_size {c.image_size} is not divisible by patch_size "
                        f"{c.patch_size}; pick a patch size that divides the image")
    if c.image_size < 16:
        raise SithError(f"image_size must be >= 16, got {c.image_size}; use e.g. 64")
    if c.batch_size < 2:
        raise SithError(f"batch_size must be >= 2 for a contrastive loss, got {c.batch_size}")
    if not 0.0 <= c.hard_negative_frac <= 0.5:
        raise SithError(f"hard_negative_frac must be in [0, 0.5], got {c.hard_negative_frac}")
    bad = [f for f in c.twin_factors if f not in TWIN_FACTORS]
    if bad or not c.twin_factors:
        raise SithError(f"twin_factors {list(c.twin_factors)} invalid; choose a non-empty "
                        f"subset of {list(TWIN_FACTORS)}")
    unknown = sorted(set(c.caption_rates) - set(DEFAULT_RATES))
    if unknown:
        raise SithError(f"caption_rates keys {unknown} unknown; choose from {sorted(DEFAULT_RATES)}")
    if any(not 0.0 <= float(v) <= 1.0 for v in c.caption_rates.values()):
        raise SithError(f"caption_rates must be probabilities in [0, 1], got {c.caption_rates}")
    if not c.lr > 0 or c.weight_decay < 0 or c.warmup < 0:
        raise SithError("lr must be > 0, weight_decay and warmup >= 0; fix the TrainConfig")
    _validate_v2(c)


def _validate_v2(c: TrainConfig) -> None:
    if c.world not in WORLDS:
        raise SithError(f"TrainConfig.world {c.world!r} unknown; choose one of {list(WORLDS)}")
    if not 0 <= c.mlp_free_last <= c.vision_layers:
        raise SithError(f"mlp_free_last must be in 0..vision_layers ({c.vision_layers}), "
                        f"got {c.mlp_free_last}")
    if c.routing_weight < 0 or c.routing_penalty < 0 or c.routing_ramp < 0 or c.snapshot_at < 0:
        raise SithError("routing_weight, routing_penalty, routing_ramp and snapshot_at must be "
                        ">= 0; fix the TrainConfig")
    if not 0.0 <= c.routing_start <= 1.0 or not 0.0 <= c.routing_gate <= 1.0:
        raise SithError("routing_start and routing_gate must be in [0, 1]; e.g. 0.45 and 0.8")
    if c.routing_assignment not in ASSIGNMENTS:
        raise SithError(f"routing_assignment {c.routing_assignment!r} unknown; choose one of "
                        f"{sorted(ASSIGNMENTS)}")
    if not c.routed:
        return
    if c.routing_weight <= 0:
        raise SithError("routing_penalty needs routing_weight > 0 (the gate waits for the assigned "
                        "heads to classify); set routing_weight, e.g. 0.1")
    if c.world == "v1":
        raise SithError("the routing objective needs world=v2 (its twin rows); "
                        "add --set world=v2")
    for f, heads in c.assignment().items():
        for layer, head in heads:
            if not (0 <= layer < c.vision_layers and 0 <= head < c.vision_heads):
                raise SithError(f"assignment {c.routing_assignment!r} puts {f} on L{layer}H{head}, "
                                f"outside {c.vision_layers} layers x {c.vision_heads} heads; "
                                "choose another routing_assignment")


def model_config(config: TrainConfig) -> dict[str, object]:
    """The open_clip model-config dict (``embed_dim``/``vision_cfg``/``text_cfg``)."""
    return {
        "embed_dim": config.embed_dim,
        "vision_cfg": {
            "image_size": config.image_size, "patch_size": config.patch_size,
            "width": config.vision_width, "layers": config.vision_layers,
            "head_width": config.vision_width // config.vision_heads, "mlp_ratio": 4.0,
        },
        "text_cfg": {
            "context_length": config.context_length, "vocab_size": 49408,
            "width": config.text_width, "heads": config.text_heads, "layers": config.text_layers,
        },
    }


@dataclass(frozen=True)
class V2Variant:
    """A variant of the v2 recipe: its routed run's head ``assignment`` (:data:`ASSIGNMENTS`)
    and the factors its training batches twin."""

    assignment: str
    twins: tuple[str, ...] = V2_TWINS


_NO_BIRD_TWINS = tuple(f for f in V2_TWINS if f != "bird")
#: The v2 recipes tried, in order (docs/organism.md, "Organism v2"). ``v2`` and ``v2-nobird``
#: share their controls; ``v2-natural-birds`` neither twins nor routes the birds, so its control
#: is its own; ``v2-few-bird-twins`` keeps the bird twins at 2 in 32 twins (``v2``: 1 in 7), so
#: that 3000 steps see about the bird twins ``v2``'s control had seen at step 1350, where it still
#: had its habitat shortcut (a guess from that one checkpoint), and has its own control.
V2_VARIANTS: dict[str, V2Variant] = {
    "v2": V2Variant("v2"),
    "v2-nobird": V2Variant("v2-nobird"),
    "v2-natural-birds": V2Variant("v2-nobird", _NO_BIRD_TWINS),
    "v2-few-bird-twins": V2Variant("v2-nobird", _NO_BIRD_TWINS * 5 + ("bird", "bird")),
}


def v2_variant(name: str) -> V2Variant:
    """The recipe ``name`` of :data:`V2_VARIANTS` (a one-line error naming the choices)."""
    if name not in V2_VARIANTS:
        raise SithError(f"unknown v2 recipe {name!r}; choose one of {list(V2_VARIANTS)}")
    return V2_VARIANTS[name]


def run_folder(kind: str, seed: int, variant: str = "v2") -> str:
    """The folder of one v2 training run: ``{kind}-s{seed}`` for ``v2``, else
    ``{kind}-{variant}-s{seed}`` — except that a control is shared by every variant with the
    same batches (a control has no assignment): ``v2-nobird``'s is ``control-s{seed}``."""
    v = v2_variant(variant)
    own = variant != "v2" and (kind == "routed" or v.twins != V2_TWINS)
    return f"{kind}-{variant}-s{seed}" if own else f"{kind}-s{seed}"


def v2_config(seed: int, *, routed: bool, variant: str = "v2", **overrides: object) -> TrainConfig:
    """The known-circuit organism's recipe (docs/organism.md, "organism v2").

    v1's architecture with the last two blocks MLP-free, the ``v2`` world with every routed
    factor twinned, 3000 steps on one thread; ``routed`` switches on the head-routing
    objective at 45% of training (the control keeps a snapshot there for the routed run to
    branch from, so both share their first 1350 steps). ``variant``: :data:`V2_VARIANTS`.
    """
    v = v2_variant(variant)
    base: dict[str, object] = dict(
        world="v2", twin_factors=v.twins, mlp_free_last=2, steps=3000, threads=1, seed=seed,
        snapshot_at=1350,
    )
    if routed:
        base.update(routing_weight=0.1, routing_penalty=0.1, routing_assignment=v.assignment)
    return TrainConfig(**{**base, **overrides})  # type: ignore[arg-type]
