"""Which dictionary concepts a request names, and whether the model knows the request at all.

A request word ``q`` (``--suppress skull``) is matched to dictionary concepts two ways:

* **by words**: the concept contains ``q``'s words as a contiguous run, case-insensitively
  (``"skull"`` matches ``"skull symbol"``, not ``"skullcap"``);
* **by meaning**: the concept's atom is closer to ``q``'s atom (both made as the decomposition's
  atoms are, docs/method.md §4, in its atom mode: the seed's unit rows, dictionary mean
  subtracted, unit again; or a project option, §7) than random
  strings get — ``cos(q, a) > τ`` with ``τ`` the 99th percentile, over ``n_null`` random
  letter strings shaped like ``q`` (same length, spaces kept), of each string's best cosine
  with any dictionary concept. The null is measured on the spot, per request word, on this
  model's own text tower: no fixed cosine cut-off.

**Familiarity** (:func:`familiarity`): does the text tower know the request? Two tests against
random strings shaped like it, both must pass (:class:`Familiarity`):

1. *apart from noise*: the request's cosine with its nearest random string is below the 5th
   percentile of the random strings' cosines with their nearest other random string;
2. *near something known* (when the dictionary's atoms are given): the request's best cosine
   with a dictionary atom is above every random string's best cosine with one. A string the
   tower never learned can land far from the random strings (``xyzzyplugh``, a phrase such as
   ``background or scene`` on the organism) without being any nearer to a concept than noise is.

A *noise-like* request fails either test (on the organism, words its text tower never learned);
it gets no meaning matches (they would be matches of noise), only word matches.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from sith.edit.judges.words import contains_run, words_of
from sith.errors import SithError

#: The null's quantile that a meaning match must exceed.
NULL_QUANTILE = 0.99
#: A request is familiar when its nearest-random-string cosine is below this quantile of the null.
FAMILIAR_QUANTILE = 0.05
#: Random strings per request word.
NULL_STRINGS = 100

#: ``texts -> (n, e)`` atoms made like the dictionary's (docs/method.md §4).
TextAtoms = Callable[[list[str]], Tensor]


def random_strings(text: str, n: int, *, seed: int = 0) -> list[str]:
    """``n`` random lower-case strings shaped like ``text`` (letters and digits replaced, spaces
    and punctuation kept), reproducible from ``seed`` and ``text``."""
    rng = random.Random(f"{seed}:{text}")
    return [
        "".join(rng.choice(string.ascii_lowercase) if ch.isalnum() else ch for ch in text) for _ in range(n)
    ]


@dataclass(frozen=True)
class ConceptMatch:
    """How one request word maps onto the dictionary.

    Attributes:
        query: the request word as given.
        in_dictionary: whether the dictionary holds it exactly (case-insensitive).
        matched: ``(concept, how, cos)`` — ``how`` is ``words`` or ``meaning``; ``cos`` the
            centred cosine of the concept with the query.
        nearest: the five dictionary concepts of highest cosine with the query.
        threshold: ``τ``, the null's cosine bound for a meaning match.
        noise_like: the model treats the query like random strings (meaning matches off).
    """

    query: str
    in_dictionary: bool
    matched: tuple[tuple[str, str, float], ...]
    nearest: tuple[tuple[str, float], ...]
    threshold: float
    noise_like: bool = False

    @property
    def concepts(self) -> list[str]:
        return [c for c, _, _ in self.matched]

    def record(self) -> dict:
        return {
            "query": self.query,
            "in_dictionary": self.in_dictionary,
            "matched": [{"concept": c, "how": h, "cos": round(v, 4)} for c, h, v in self.matched],
            "nearest": [{"concept": c, "cos": round(v, 4)} for c, v in self.nearest],
            "meaning_threshold": round(self.threshold, 4),
            "noise_like": self.noise_like,
        }


def match_concept(
    query: str,
    concepts: list[str],
    atoms: Tensor,
    make_atoms: TextAtoms,
    *,
    noise_like: bool = False,
    n_null: int = NULL_STRINGS,
    seed: int = 0,
) -> ConceptMatch:
    """Match ``query`` to ``concepts`` (their unit ``atoms`` ``(N, e)``) by words and by meaning
    (module docstring); ``make_atoms(texts) -> (n, e)`` makes any text's atom exactly as the
    dictionary's were made (the decomposition's atom mode). ``noise_like`` turns meaning matches
    off."""
    q = " ".join(str(query).split())
    if not words_of(q):
        raise SithError(f"request {query!r} has no letters or digits; name a concept, e.g. skull")
    if len(concepts) != atoms.shape[0]:
        raise SithError("the dictionary's concepts and embeddings differ in length; encode it again")
    probes = F.normalize(make_atoms([q, *random_strings(q, n_null, seed=seed)]).float(), dim=-1)
    cos = probes @ F.normalize(atoms.float(), dim=-1).T  # (1 + n_null, N)
    tau = float(torch.quantile(cos[1:].max(dim=1).values, NULL_QUANTILE))
    run = words_of(q)
    matched: dict[str, tuple[str, float]] = {}
    for j, c in enumerate(concepts):
        if contains_run(words_of(c), run):
            matched[c] = ("words", float(cos[0, j]))
        elif not noise_like and float(cos[0, j]) > tau:
            matched.setdefault(c, ("meaning", float(cos[0, j])))
    top = torch.topk(cos[0], min(5, len(concepts)))
    return ConceptMatch(
        query=q,
        in_dictionary=q.lower() in {c.lower() for c in concepts},
        matched=tuple(
            sorted(((c, h, v) for c, (h, v) in matched.items()), key=lambda m: (m[1] != "words", -m[2], m[0]))
        ),
        nearest=tuple((concepts[j], float(v)) for v, j in zip(top.values.tolist(), top.indices.tolist())),
        threshold=tau,
        noise_like=noise_like,
    )


@dataclass(frozen=True)
class Familiarity:
    """Whether the text tower tells a request from random strings shaped like it.

    The statistic is the request's cosine with its nearest random string (atoms made like
    the dictionary's); the null is, for each random string, its cosine with its nearest other
    random string. The request is *noise-like* unless it is farther from the random strings
    than 95% of them are from each other (below the null's 5th percentile, :data:`FAMILIAR_QUANTILE`)
    and, when ``known`` is measured, nearer to a dictionary concept than every random string.

    Attributes:
        query: the request word.
        statistic: the request's cosine with its nearest random string.
        null: the random strings' nearest-neighbour cosines (sorted).
        bound: the null's :data:`FAMILIAR_QUANTILE` quantile.
        reach: optional ``(min, max)`` of a command's own statistic for the random strings
            (``sith search``: their best ``|cos|`` with any component), for context.
        own: the command's statistic for the request itself (``sith search``: its top hit's
            ``|cos|``), compared with ``reach`` by :attr:`beats_random`.
        known: optional ``(request, random max)``: the request's best cosine with a dictionary
            atom, and the largest such cosine of any random string.
    """

    query: str
    statistic: float
    null: tuple[float, ...]
    bound: float
    reach: tuple[float, float] | None = None
    own: float | None = None
    known: tuple[float, float] | None = None

    @property
    def apart_from_noise(self) -> bool:
        return self.statistic < self.bound

    @property
    def near_known(self) -> bool:
        return self.known is None or self.known[0] > self.known[1]

    @property
    def noise_like(self) -> bool:
        return not (self.apart_from_noise and self.near_known)

    @property
    def beats_random(self) -> bool | None:
        """Whether the request's own statistic is above every random string's (None: not measured)."""
        if self.own is None or self.reach is None:
            return None
        return self.own > self.reach[1]

    @property
    def percentile(self) -> float:
        """The share of random strings nearer to another random string than the request is (0–100)."""
        return 100.0 * sum(v > self.statistic for v in self.null) / max(len(self.null), 1)

    def line(self) -> str:
        """One line for a report."""
        if not self.apart_from_noise:
            verdict = "the model treats it like noise"
        elif not self.near_known:
            near, noise = self.known or (0.0, 0.0)
            verdict = (f"the model treats it like noise: its nearest dictionary concept (cos {near:.3f}) "
                       f"is no nearer than random strings get ({noise:.3f})")
        else:
            verdict = "the model tells it from noise"
        text = (
            f"{self.query!r}: cos with its nearest random string {self.statistic:.3f}, random strings "
            f"with each other {min(self.null):.3f}-{max(self.null):.3f} (5th pct {self.bound:.3f}): {verdict}"
        )
        if self.reach is not None:
            text += f"; random strings reach best |cos| {self.reach[0]:.3f}-{self.reach[1]:.3f} here"
            if self.own is not None:
                beats = "beats" if self.beats_random else "does not beat"
                text += f", the query's {self.own:.3f} {beats} them"
        return text

    def record(self) -> dict:
        return {
            "query": self.query,
            "nearest_random_cos": round(self.statistic, 4),
            "null_min": round(min(self.null), 4),
            "null_max": round(max(self.null), 4),
            "null_bound": round(self.bound, 4),
            "percentile": round(self.percentile, 1),
            "noise_like": self.noise_like,
            "random_reach": None if self.reach is None else [round(v, 4) for v in self.reach],
            "own": None if self.own is None else round(self.own, 4),
            "beats_random": self.beats_random,
            "nearest_known_cos": None if self.known is None else round(self.known[0], 4),
            "random_nearest_known_max": None if self.known is None else round(self.known[1], 4),
        }


def familiarity(
    query: str,
    make_atoms: Callable[[list[str]], Tensor],
    *,
    statistic: Callable[[Tensor], Tensor] | None = None,
    dictionary_atoms: Tensor | None = None,
    n_null: int = NULL_STRINGS,
    seed: int = 0,
) -> Familiarity:
    """The request against ``n_null`` random strings shaped like it (class docstring);
    ``make_atoms(texts) -> (n, e)`` makes atoms as the command does. ``statistic(atoms) -> (n,)``
    (optional) is a command's own score, whose range over the random strings is reported.
    ``dictionary_atoms`` ``(N, e)`` (optional, made like ``make_atoms``' rows) adds the
    near-something-known test (module docstring)."""
    q = " ".join(str(query).split())
    atoms = make_atoms([q, *random_strings(q, n_null, seed=seed)]).float()
    atoms = F.normalize(atoms, dim=-1)
    noise = atoms[1:]
    among = noise @ noise.T
    among.fill_diagonal_(-2.0)
    null = among.max(dim=1).values.double()
    reach = own = known = None
    if statistic is not None:
        values = statistic(atoms).detach().double().cpu()
        own, reach = float(values[0]), (float(values[1:].min()), float(values[1:].max()))
    if dictionary_atoms is not None:
        best = (atoms @ F.normalize(dictionary_atoms.detach().float().cpu(), dim=-1).T).max(dim=1).values
        known = (float(best[0]), float(best[1:].max()))
    return Familiarity(
        query=q,
        statistic=float((noise @ atoms[0]).max()),
        null=tuple(sorted(null.tolist())),
        bound=float(torch.quantile(null, FAMILIAR_QUANTILE)),
        reach=reach,
        own=own,
        known=known,
    )
