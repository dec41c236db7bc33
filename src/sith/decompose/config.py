"""The one configuration of a decomposition (docs/method.md §6–§7), declared as data.

Two typed objects:

* :class:`DecompositionRequest` — what a user asks for. Each field is declared once, with
  :func:`sith.decompose.spec.option` (default, type, choices, help, check, whether a value is a
  project option and its file-name tag). The validation, the project options recorded in a
  file and its name, the CLI flags (``sith.cli.common.add_decomposition_args``) and the keyword
  options of ``sith.api.decompose``/``search``/``edit`` are all derived from these declarations.
* :class:`DecompositionConfig` — the resolved record (what is stored in a file): the
  request's fields made concrete (layers, rank, dictionary) plus the model and the inputs'
  hashes (:meth:`DecompositionRequest.resolved`, called by the pipeline once the model is loaded).
  It alone derives the file name, the stored record (provenance) and the comparison a reader
  makes before reusing a file. A configuration the seed's own flags can express
  (:attr:`~DecompositionRequest.is_seed`) writes the seed's file name; one that uses any of the
  project's options (docs/method.md §7) writes a name with ``_sith-{options}`` added, so it
  never overwrites a seed-named file.

How to add an option: docs/design.md, "Adding a decomposition option".
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from sith import __version__, paths
from sith.decompose.methods import DEFAULT_METHOD, FORMS, is_seed_method, parse_method
from sith.decompose.spec import Option, check_names, option, options_of, positive_int, validate
from sith.encode.modes import ATOM_MODES, SEED_ATOM_MODE
from sith.errors import SithError

FORMAT = "sith-decomposition-config/1"
SV_TYPES = ("right", "left")
#: Which sign of a singular vector is explained: the seed's sign rule, or options (docs/method.md §7).
POLARITY_MODES = ("seed", "best", "both")
#: The seed's rank: 64 singular vectors per head, at most the head width (docs/method.md §2).
SEED_RANK = 64


def check_template(template: str) -> None:
    if template.count("{}") != 1:
        raise ValueError(f"{{name}} {template!r} must contain '{{}}' exactly once, e.g. 'a photo of {{}}'")


def seed_rank(rank: int | None, config: Any) -> bool:
    """The seed's rank: unset, or ``min(64, dh)`` (unknown before the model is loaded)."""
    head_width = getattr(config, "head_width", 0)
    return rank is None or not head_width or rank == min(SEED_RANK, head_width)


def template_tag(template: str) -> str:
    return f"template-{hashlib.sha256(str(template).encode('utf-8')).hexdigest()[:8]}"


@dataclass(frozen=True)
class DecompositionRequest:
    """What a decomposition is asked to be (docs/method.md §2–§7); None = the default.

    Every field is an :class:`~sith.decompose.spec.Option` (see :data:`OPTIONS`). A project
    option's file-name tag parts follow the declaration order (``polarity``, ``atoms``,
    ``image_mean``, ``rank``, ``template``): add new options at the end.
    """

    layers: tuple[int, ...] | None = option(
        None, kind="ints", help="analysed layers", default_text="the last 4", compare=False
    )
    method: str = option(
        DEFAULT_METHOD, kind="str", help=f"solver: {FORMS}", check=parse_method,
        seed=lambda v, _: is_seed_method(v), tag=lambda v: str(v).split("-")[0],
    )
    sparsity: int = option(5, kind="int", help="concepts per vector, K", check=positive_int(5))
    dictionary: str | None = option(
        None, kind="str", help="pool name or text file",
        default_text="the model's own pool if it registered one, else conceptnet", compare=False,
    )
    sv_type: str = option(
        "right", kind="str", choices=SV_TYPES,
        help="explain the directions a head writes (right) or reads (left)",
    )
    fold_ln: bool = option(
        True, kind="bool", help="fold ln_1's gain and centre both sides before the SVD"
    )
    polarity: str = option(
        "seed", kind="str", choices=POLARITY_MODES,
        help="seed: explain the sign the sign rule gives; best/both: project options",
        seed=lambda v, _: v == "seed", tag=lambda v: f"polarity-{v}",
    )
    atoms: str = option(
        SEED_ATOM_MODE, kind="str", choices=ATOM_MODES,
        help="center = normalise, subtract the mean, normalise (seed); raw, image-cone: options",
        seed=lambda v, _: v == SEED_ATOM_MODE, tag=lambda v: f"atoms-{v}",
    )
    image_mean: bool = option(
        True, kind="bool", help="subtract the image mean from targets (seed); off is a project option",
        seed=lambda v, _: v, tag=lambda _: "no-image-mean",
    )
    rank: int | None = option(
        None, kind="int", help="singular vectors per head", check=positive_int(64),
        default_text="64 capped at the head width", seed=seed_rank, tag=lambda v: f"rank-{v}",
    )
    template: str | None = option(
        None, kind="str", check=check_template,
        help='encode concepts in a prompt template, e.g. "a photo of {}" (project option; seed: raw)',
        default_text="none, the raw strings", seed=lambda v, _: v is None, tag=template_tag,
    )

    def __post_init__(self) -> None:
        validate(self)

    @classmethod
    def from_options(cls, options: dict[str, Any], *, command: str = "decompose") -> DecompositionRequest:
        """A request from keyword options (checked: unknown names and bad values are a
        :class:`~sith.errors.ConfigError` naming the field), before any model is loaded."""
        kind = DecompositionRequest if issubclass(cls, DecompositionConfig) else cls  # no model yet
        check_names(options, options_of(kind), command=command)
        return kind(**options)

    @classmethod
    def check_options(cls, options: dict[str, Any], *, command: str = "decompose") -> dict[str, Any]:
        """Validate keyword options before any model is loaded; returns them (a copy)."""
        cls.from_options(options, command=command)
        return dict(options)

    def values(self) -> dict[str, Any]:
        """``{option: value}`` of every declared option."""
        return {o.name: getattr(self, o.name) for o in options_of(type(self))}

    # ------------------------------------------------------------------ derived
    def options(self) -> dict[str, Any]:
        """The project's options in use (docs/method.md §7); empty for the seed's recipe."""
        return {
            o.name: getattr(self, o.name)
            for o in options_of(type(self))
            if o.seed is not None and not o.seed(getattr(self, o.name), self)
        }

    @property
    def is_seed(self) -> bool:
        """Whether the seed's own flags can express this configuration."""
        return not self.options()

    def options_tag(self) -> str:
        """A short, readable tag of the options for file names ('' for seed): a non-seed method
        is named too (``_lasso_sparsity-5_sith-lasso``), so every option-made file carries the
        ``_sith-`` mark and no seed-named file ever holds one."""
        used = self.options()
        opts = options_of(type(self))
        return "+".join(o.tag(used[o.name]) for o in opts if o.tag is not None and o.name in used)

    def describe(self) -> str:
        """``comp-0.3 K=5 organism foldln`` — the configuration in a few words, with its options."""
        fold = "foldln" if self.fold_ln else "nofoldln"
        opts = {k: v for k, v in self.options().items() if k != "method"}
        extra = "" if not opts else " " + " ".join(f"{k}={v}" for k, v in opts.items())
        name = getattr(self, "dictionary_name", "") or self.dictionary
        return f"{self.method} K={self.sparsity} {name} {fold}{extra}"

    @property
    def uses_image_mean(self) -> bool:
        """Whether the image mean enters this decomposition (targets, or image-cone atoms)."""
        return self.image_mean or self.atoms == "image-cone"

    def resolved(self, **filled: Any) -> DecompositionConfig:
        """The resolved record: this request with the loaded model's and inputs' values
        (``model_name``, ``pretrained``, ``fingerprint``, concrete ``layers``/``rank``, ...)."""
        return DecompositionConfig(**{**self.values(), **filled})


#: Every option of a decomposition, in declaration order (:class:`DecompositionRequest`).
OPTIONS: tuple[Option, ...] = options_of(DecompositionRequest)


def options_named(*names: str) -> tuple[Option, ...]:
    """The options called ``names`` (in that order), e.g. the subset a command takes."""
    table = {o.name: o for o in OPTIONS}
    return tuple(table[n] for n in names)


#: The options a reverse search takes (they make the targets and the query's atom).
SEARCH_OPTIONS = options_named("dictionary", "sv_type", "fold_ln", "atoms", "image_mean", "template")

#: What ``sith organism eval`` may vary in its recipe-choice runs (everything but what is analysed).
RECIPE_OPTIONS = options_named("method", "fold_ln", "polarity", "atoms", "image_mean", "rank")

#: The options an explanation of a weight change takes (``sith compare``; its dictionary is
#: its own switch, no dictionary = no explanation).
EXPLAIN_OPTIONS = options_named("method", "sparsity", "atoms", "template")

#: Fields filled by :meth:`DecompositionRequest.resolved` from the loaded model and inputs.
RESOLVED_FIELDS = (
    "model_name", "pretrained", "fingerprint", "dictionary_name", "dictionary_hash", "image_mean_hash",
    "head_width",
)
#: Content hashes a file made by the seed's own code does not record.
HASH_FIELDS = ("fingerprint", "dictionary_hash", "image_mean_hash")
#: Fields a stored file must agree on before it is reused (``layers`` is per file; the
#: dictionary is compared by its name and content hash).
CONTENT_FIELDS = (
    "model_name", "pretrained", "fingerprint", "dictionary_name", "dictionary_hash", "image_mean_hash",
    *(o.name for o in OPTIONS if o.compare),
)


@dataclass(frozen=True)
class DecompositionConfig(DecompositionRequest):
    """The resolved record of a decomposition: its request's options plus the model and inputs.

    Attributes (besides the options of :class:`DecompositionRequest`):
        model_name, pretrained: the model (``sith.load.load_clip`` arguments).
        fingerprint: the vision tower's weights hash.
        dictionary_name: the pool's name in file names.
        dictionary_hash: content hash of the pool.
        image_mean_hash: hash of the image mean used.
        head_width: the model's head width ``dh``; a rank other than the seed's ``min(64, dh)``
            is a recorded option (``_sith-rank-R``).

    ``DecompositionConfig(model, tag, **options)`` also serves as a request naming its model
    (:meth:`resolved` fills the rest).
    """

    model_name: str
    pretrained: str
    fingerprint: str = ""
    dictionary_name: str = ""
    dictionary_hash: str = ""
    image_mean_hash: str = ""
    head_width: int = 0

    def file_name(self, layer: int) -> str:
        """The decomposition file of ``layer`` (seed name unless options are used)."""
        self.require_resolved()
        return paths.decomposition_filename(
            layer,
            self.sv_type,
            self.fold_ln,
            self.dictionary_name,
            self.method,
            self.sparsity,
            self.options_tag(),
        )

    def path(self, data_dir: str | Path, layer: int) -> Path:
        return paths.decompositions_dir(data_dir, self.model_name, self.pretrained) / self.file_name(layer)

    def resolved(self, **filled: Any) -> DecompositionConfig:
        """A copy with the loaded model's and inputs' values filled in."""
        return replace(self, **filled)

    def request(self) -> DecompositionRequest:
        """The request part (the options only)."""
        return DecompositionRequest(**self.values())

    def require_resolved(self) -> None:
        if self.layers is None or self.rank is None or not self.dictionary_name:
            raise SithError("internal: configuration used before it was resolved against a model")

    def record(self) -> dict[str, Any]:
        """The stored configuration (JSON/pickle-safe), with the options and version."""
        d = asdict(self)
        d["layers"] = None if self.layers is None else list(self.layers)
        return {"format": FORMAT, **d, "options": self.options(), "sith_version": __version__}

    def mismatches(self, stored: DecompositionConfig, fields_: tuple[str, ...] = ()) -> list[str]:
        """``field: stored → wanted`` for each content field (or each of ``fields_``) where a
        stored file's configuration differs from this one."""
        out = []
        for name in fields_ or CONTENT_FIELDS:
            have, want = getattr(stored, name), getattr(self, name)
            if have != want:
                out.append(f"{name}: {have!r} → {want!r}")
        return out

    def identity(self, *, without: tuple[str, ...] = ()) -> tuple[Any, ...]:
        """The content fields' values (less ``without``): equal identities, equal content."""
        return tuple(getattr(self, name) for name in CONTENT_FIELDS if name not in without)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> DecompositionConfig:
        """Rebuild a configuration from :meth:`record` (unknown keys ignored; a missing or
        ill-typed field raises ``KeyError``/``TypeError``/``ValueError``/:class:`SithError`).

        A decomposition file's record also holds ``model`` (name, tag, fingerprint): it fills
        the model fields a record written by :func:`sith.decompose.decompose_layer` alone lacks."""
        names = {f.name for f in fields(cls)}
        model = record.get("model") if isinstance(record.get("model"), dict) else {}
        kw = {k: v for k, v in model.items() if k in ("model_name", "pretrained", "fingerprint")}
        kw.update({k: v for k, v in record.items() if k in names})
        if kw.get("layers") is not None:
            kw["layers"] = tuple(int(x) for x in kw["layers"])
        if "model_name" not in kw or "pretrained" not in kw:
            raise KeyError("model")
        return cls(**kw)
