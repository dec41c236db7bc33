"""``sith organism eval`` runs the seed recipe unless a recipe choice is named, and says which."""

import pytest

from sith.errors import ConfigError
from sith.organism_eval.evaluate import Options, evaluate


def test_default_is_the_seed_recipe(tmp_path):
    text, results = evaluate(twins=None, options=Options(), data_dir=tmp_path, progress=False)
    assert text.startswith("layers [4, 5], K=5, seed recipe (method=comp-0.3")
    assert results["recipe_changes"] == {}
    assert results["recipe"]["polarity"] == "seed" and results["recipe"]["image_mean"] is True


def test_a_recipe_choice_is_recorded_and_printed(tmp_path):
    text, results = evaluate(twins=None, options=Options(), data_dir=tmp_path, progress=False,
                             recipe={"polarity": "both", "image_mean": False, "method": "omp"})
    assert results["recipe_changes"] == {"method": "omp", "polarity": "both", "image_mean": False}
    assert "recipe method=omp polarity=both image_mean=False (" in text.splitlines()[0]


@pytest.mark.parametrize("recipe, field", [({"method": "bogus"}, "method"), ({"layers": [1]}, "layers"),
                                           ({"polarity": "upside"}, "polarity")])
def test_bad_recipes_name_their_field_before_loading(recipe, field, tmp_path, monkeypatch):
    import sith.organism_eval.evaluate as ev

    monkeypatch.setattr(ev, "load_clip", lambda *a, **k: pytest.fail("loaded the model first"))
    with pytest.raises(ConfigError) as err:
        evaluate(twins=None, options=Options(), data_dir=tmp_path, recipe=recipe)
    assert err.value.field == field
