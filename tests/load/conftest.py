"""Fixtures of the load-stage tests."""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import pytest

from tests.load.tiny import TINY_NAME, TINY_TEXT, TINY_VISION


@pytest.fixture(scope="session")
def tiny_name(tmp_path_factory) -> str:
    """Register a tiny open_clip architecture (with LayerScale) under ``TINY_NAME``."""
    d = tmp_path_factory.mktemp("configs")
    cfg = {
        "embed_dim": 32,
        "vision_cfg": {**TINY_VISION, "ls_init_value": 0.5},
        "text_cfg": TINY_TEXT,
    }
    (d / f"{TINY_NAME}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(Path(d))
    assert TINY_NAME in open_clip.list_models()
    return TINY_NAME
