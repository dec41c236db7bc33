"""Downloadable resources: the seed authors' pre-computed files on Google Drive.

* :mod:`sith.resources.gdrive` — public Drive folders and files through ``gdown`` (the
  seed's own client), with sith's checks, temp + rename and resume;
* :mod:`sith.resources.seed` — the seed's registry of folders and files and the
  downloaders of ``sith download-model-data`` / ``sith download-dictionary --source seed``;
* :mod:`sith.resources.provenance` — the ``NAME.source.json`` sidecar every download writes.

Core level: imports ``sith.io``, ``sith.paths``, ``sith.errors`` and ``sith.encode.pools``
only (never a shell). Submodules are imported by name; this ``__init__`` imports nothing.
"""
