import pytest
import torch

from sith.edit.judges import DEFAULT_CUTOFFS, EmbeddingJudge, Judge, score_from_mean
from sith.errors import SithError

# planted text space: each concept = shared offset + its family's direction (+ a small own part)
FAMILY = {"water": 0, "ocean": 0, "lake": 0, "red": 1, "crimson": 1, "dog": 2, "cat": 2, "car": 3}
E = 16


def encode(texts):
    out = torch.zeros(len(texts), E)
    for i, t in enumerate(texts):
        out[i, 15] = 3.0  # CLIP-like common offset: raw cosines of unrelated words are high
        out[i, FAMILY[t]] = 1.0
        out[i, 4 + sorted(FAMILY).index(t)] = 0.3
    return out * 2.5  # unnormalised, as encode_text returns


def test_is_a_judge_and_scores_task_concepts_high():
    j = EmbeddingJudge(encode, ["water", "ocean"])
    assert isinstance(j, Judge)
    expl = [[("lake", 0.6), ("water", 0.2)], [("red", 0.5), ("dog", 0.3)], [("water", 0.3), ("car", 0.3)], []]
    rel = j.relevance(expl, "is it about water?")
    assert rel.scores[0] == 5
    assert rel.scores[1] == 1
    assert rel.scores[0] > rel.scores[2] > rel.scores[1]
    assert rel.scores[3] == 1 and rel.raw[3] == 0.0
    assert j.score(expl, "is it about water?") == rel.scores


def test_raw_r_formula_without_centring():
    j = EmbeddingJudge(encode, ["water", "red"], center=False)
    emb = encode(["lake", "dog", "water", "red"])
    emb = emb / emb.norm(dim=1, keepdim=True)
    best = (emb[:2] @ emb[2:].T).max(dim=1).values
    want = 0.6 * best[0] + 0.3 * best[1]
    rel = j.relevance([[("lake", 0.6), ("dog", 0.3), ("neg", -0.5)]], "t")
    assert rel.raw[0] == pytest.approx(float(want), abs=1e-5)
    assert rel.mean[0] == pytest.approx(float(want) / 0.9, abs=1e-5)


def test_centring_removes_the_shared_offset():
    expl = [[("dog", 1.0)]]
    raw = EmbeddingJudge(encode, ["water"], center=False).relevance(expl, "t").mean[0]
    ref = list(FAMILY)
    centred = EmbeddingJudge(encode, ["water"], reference=ref).relevance(expl, "t").mean[0]
    assert raw > 0.7  # would read as "strongly related" without centring
    assert centred < DEFAULT_CUTOFFS[0]


def test_task_concepts_default_to_comma_split_task():
    j = EmbeddingJudge(encode, reference=list(FAMILY))
    assert j.score([[("ocean", 1.0)], [("cat", 1.0)]], "water, lake") == [5, 1]
    with pytest.raises(SithError, match="task"):
        j.score([[("ocean", 1.0)]], " ")


@pytest.mark.parametrize(
    ("r", "s"), [(-0.5, 1), (0.1499, 1), (0.15, 2), (0.3, 3), (0.49, 3), (0.5, 4), (0.7, 5), (1.0, 5)]
)
def test_fixed_cutoffs(r, s):
    assert score_from_mean(r) == s


def test_bad_cutoffs_refused():
    with pytest.raises(SithError, match="cutoffs"):
        EmbeddingJudge(encode, ["water"], cutoffs=(0.5, 0.3, 0.6, 0.7))


def test_lead_scores_the_largest_weight_concept_only():
    # led by a task word, diluted by three unrelated concepts: R_mean is low, lead is the word's match
    expl = [[("water", 0.4), ("red", 0.3), ("dog", 0.3), ("car", 0.3)], [("red", 0.6), ("water", 0.5)]]
    mean = EmbeddingJudge(encode, ["water"], reference=list(FAMILY)).relevance(expl, "t")
    lead = EmbeddingJudge(encode, ["water"], reference=list(FAMILY), score_by="lead").relevance(expl, "t")
    assert mean.raw == pytest.approx(lead.raw) and mean.mean == pytest.approx(lead.mean)
    assert mean.lead == pytest.approx(lead.lead)
    assert lead.lead[0] == pytest.approx(1.0, abs=1e-5)  # the task word itself
    assert lead.scores[0] == 5 and mean.scores[0] < 3
    assert lead.lead[1] < DEFAULT_CUTOFFS[0] and lead.scores[1] == 1  # led by an unrelated word
    assert mean.scores[1] > lead.scores[1]


def test_bad_score_by_refused():
    with pytest.raises(SithError, match="score_by"):
        EmbeddingJudge(encode, ["water"], score_by="max")
