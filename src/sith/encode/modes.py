"""Atom modes (docs/method.md §4, §7): plain names, importable without torch (the CLI's flags)."""

#: Atom modes; the first is the seed's (:func:`sith.encode.atoms.dictionary_atoms`).
ATOM_MODES = ("center", "raw", "image-cone")
SEED_ATOM_MODE = "center"
