"""Typed errors with fields: every one is a SithError (existing catches still work), the library
names parameters, the CLI their flags."""

from __future__ import annotations

import pytest
import torch

from sith.cli.common import error_text
from sith.decompose import LayerDecomposition
from sith.errors import ConfigError, FormatError, ModelMismatch, SithError


def test_config_error_renders_names_and_switches():
    exc = ConfigError("image_mean", "no mean; make one or pass {off} (see {name:data_dir})", value=True)
    assert isinstance(exc, SithError) and exc.field == "image_mean" and exc.value is True
    assert str(exc) == "no mean; make one or pass image_mean=False (see data_dir)"
    assert error_text(exc) == "no mean; make one or pass --no-image-mean (see --data-dir)"
    assert error_text(ConfigError("k", "{name} must be >= 1")) == "--top must be >= 1"
    assert error_text(SithError("plain")) == "plain"


def test_a_file_of_another_format_is_a_format_error(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"format": "something-else/1"}, path)
    with pytest.raises(FormatError) as exc:
        LayerDecomposition.load(path)
    assert exc.value.path == path and isinstance(exc.value, SithError)


def test_typed_errors_are_sith_errors():
    assert issubclass(ModelMismatch, SithError) and issubclass(FormatError, SithError)
    assert issubclass(ConfigError, ValueError)
