"""The one configuration object of a decomposition (docs/method.md §6–§7).

:class:`DecompositionConfig` holds every field that changes a decomposition's content.
It alone derives the file name, the stored record (provenance) and the comparison a
reader makes before reusing a file. A configuration the seed's own flags can express
(:attr:`DecompositionConfig.is_seed`) writes the seed's file name; one that uses any of
the project's options (docs/method.md §7) writes a name with ``_sith-{options}`` added, so it
never overwrites a seed-named file.

Fields are filled in two steps: a *request* (what the user asked; ``None`` means "the
default") and, once the model and inputs are loaded, :meth:`resolved` (concrete layers,
rank and dictionary, plus the model fingerprint and the content hashes).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from sith import __version__, paths
from sith.decompose.solvers import is_seed_method, parse_method
from sith.encode.atoms import ATOM_MODES, SEED_ATOM_MODE
from sith.errors import SithError

FORMAT = "sith-decomposition-config/1"
SV_TYPES = ("right", "left")
#: Which sign of a singular vector is explained: the seed's sign rule, or options (docs/method.md §7).
POLARITY_MODES = ("seed", "best", "both")

#: Fields a stored file must agree on before it is reused (``layers`` is per file).
CONTENT_FIELDS = (
    "model_name",
    "pretrained",
    "fingerprint",
    "rank",
    "method",
    "sparsity",
    "dictionary_name",
    "dictionary_hash",
    "template",
    "image_mean",
    "image_mean_hash",
    "sv_type",
    "fold_ln",
    "polarity",
    "atoms",
)


#: Fields filled by :meth:`DecompositionConfig.resolved` from the loaded model and inputs;
#: every other field is a request option (the keyword options of ``sith.api.decompose``).
RESOLVED_FIELDS = (
    "model_name", "pretrained", "fingerprint", "dictionary_name", "dictionary_hash", "image_mean_hash",
    "head_width",
)

#: The seed's rank: 64 singular vectors per head, at most the head width (docs/method.md §2).
SEED_RANK = 64


@dataclass(frozen=True)
class DecompositionConfig:
    """Everything that decides a decomposition's content.

    Attributes:
        model_name, pretrained: the model (``sith.load.load_clip`` arguments).
        fingerprint: the vision tower's weights hash (filled by :meth:`resolved`).
        layers: analysed layers; None = the last 4.
        rank: singular vectors per head; None = 64 capped at the head width.
        method: ``comp-λ`` | ``omp`` | ``mp`` | ``topk`` (seed) or a project option.
        sparsity: concepts per vector, K.
        dictionary: pool name or text file; None = the model's default.
        dictionary_name: the pool's name in file names (filled by :meth:`resolved`).
        dictionary_hash: content hash of the pool (filled by :meth:`resolved`).
        template: prompt template for encoding (None = raw strings, the seed's).
        image_mean: subtract the image mean from targets (the seed's; False is an option).
        image_mean_hash: hash of the image mean used (filled by :meth:`resolved`).
        sv_type: ``right`` (written directions) or ``left`` (read directions).
        fold_ln: ``foldln`` (seed default) or ``nofoldln`` (docs/method.md §2).
        polarity: ``seed`` | ``best`` | ``both`` (the last two are options).
        atoms: ``center`` (seed) | ``raw`` | ``image-cone`` (options).
        head_width: the model's head width ``dh`` (filled by :meth:`resolved`); a rank other
            than the seed's ``min(64, dh)`` is a recorded option (``_sith-rank-R``).
    """

    model_name: str
    pretrained: str
    fingerprint: str = ""
    layers: tuple[int, ...] | None = None
    rank: int | None = None
    method: str = "comp-0.3"
    sparsity: int = 5
    dictionary: str | None = None
    dictionary_name: str = ""
    dictionary_hash: str = ""
    template: str | None = None
    image_mean: bool = True
    image_mean_hash: str = ""
    sv_type: str = "right"
    fold_ln: bool = True
    polarity: str = "seed"
    atoms: str = SEED_ATOM_MODE
    head_width: int = 0

    def __post_init__(self) -> None:
        parse_method(self.method)
        if self.sv_type not in SV_TYPES:
            raise SithError(f"unknown --sv-type {self.sv_type!r}; use 'left' or 'right'")
        if self.polarity not in POLARITY_MODES:
            raise SithError(f"unknown --polarity {self.polarity!r}; use one of {', '.join(POLARITY_MODES)}")
        if self.atoms not in ATOM_MODES:
            raise SithError(f"unknown --atoms {self.atoms!r}; use one of {', '.join(ATOM_MODES)}")
        if not isinstance(self.sparsity, int) or self.sparsity < 1:
            raise SithError(f"--sparsity must be a positive integer, got {self.sparsity!r}; pass e.g. 5")
        if self.rank is not None and (not isinstance(self.rank, int) or self.rank < 1):
            raise SithError(f"--rank must be a positive integer, got {self.rank!r}; pass e.g. 64")
        template = self.template
        if template is not None and (not isinstance(template, str) or template.count("{}") != 1):
            raise SithError(
                f"--template {self.template!r} must contain '{{}}' exactly once, e.g. 'a photo of {{}}'"
            )

    # ------------------------------------------------------------------ derived
    def options(self) -> dict[str, Any]:
        """The project's options in use (docs/method.md §7); empty for the seed's recipe."""
        opts: dict[str, Any] = {}
        if not is_seed_method(self.method):
            opts["method"] = self.method
        if self.rank is not None and self.head_width and self.rank != min(SEED_RANK, self.head_width):
            opts["rank"] = self.rank
        if self.polarity != "seed":
            opts["polarity"] = self.polarity
        if self.atoms != SEED_ATOM_MODE:
            opts["atoms"] = self.atoms
        if not self.image_mean:
            opts["image_mean"] = False
        if self.template is not None:
            opts["template"] = self.template
        return opts

    @property
    def is_seed(self) -> bool:
        """Whether the seed's own flags can express this configuration."""
        return not self.options()

    def options_tag(self) -> str:
        """A short, readable tag of the options for file names ('' for seed): a non-seed method
        is named too (``_lasso_sparsity-5_sith-lasso``), so every option-made file carries the
        ``_sith-`` mark and no seed-named file ever holds one."""
        opts = self.options()
        parts = []
        if "method" in opts:
            parts.append(str(opts["method"]).split("-")[0])
        if "polarity" in opts:
            parts.append(f"polarity-{opts['polarity']}")
        if "atoms" in opts:
            parts.append(f"atoms-{opts['atoms']}")
        if "image_mean" in opts:
            parts.append("no-image-mean")
        if "rank" in opts:
            parts.append(f"rank-{opts['rank']}")
        if "template" in opts:
            digest = hashlib.sha256(str(opts["template"]).encode("utf-8")).hexdigest()[:8]
            parts.append(f"template-{digest}")
        return "+".join(parts)

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

    def describe(self) -> str:
        """``comp-0.3 K=5 organism foldln`` — the configuration in a few words, with its options."""
        fold = "foldln" if self.fold_ln else "nofoldln"
        opts = {k: v for k, v in self.options().items() if k != "method"}
        extra = "" if not opts else " " + " ".join(f"{k}={v}" for k, v in opts.items())
        return f"{self.method} K={self.sparsity} {self.dictionary_name or self.dictionary} {fold}{extra}"

    @classmethod
    def check_options(cls, options: dict[str, Any], *, command: str = "decompose") -> dict[str, Any]:
        """Validate request options before any model is loaded (unknown names, bad values)."""
        allowed = {f.name for f in fields(cls)} - set(RESOLVED_FIELDS)
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise SithError(f"unknown option {unknown[0]!r} for {command}; use the options of decompose")
        cls("", "", **{**options, "layers": None})
        return dict(options)

    @property
    def uses_image_mean(self) -> bool:
        """Whether the image mean enters this decomposition (targets, or image-cone atoms)."""
        return self.image_mean or self.atoms == "image-cone"

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
