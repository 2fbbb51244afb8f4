"""Review queue sized by the reviewers' capacity: known sizes, uncertainty order, error counts, config checks, real data."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.config import load_config
from kit.errors import ConfigError
from kit.explain import phase, review
from kit.explain.config import ReviewSettings
from kit.notebook import start

from test_explain_fixtures import make_run

PROBA = np.array([0.05, 0.45, 0.55, 0.48, 0.9, 0.62, 0.3, 0.51])
Y = np.array([0, 1, 0, 0, 1, 1, 1, 1])  # decisions at 0.5: errors at 0.45, 0.55 and 0.3


def test_capacity_over_volume_sets_the_share_and_period():
    cap = review.capacity_share(ReviewSettings(capacity=200, volume=4000))
    assert cap["share"] == 0.05 and cap["period"] == "week" and "200 of 4,000 rows per week" in cap["source"]
    assert review.capacity_share(ReviewSettings(capacity=900, volume=300, period="day"))["share"] == 1.0
    assert review.capacity_share(ReviewSettings(share=0.1))["share"] == 0.1
    assert review.capacity_share(ReviewSettings())["share"] == 0.05  # kit/content/explain.yaml


def test_queue_size_known_values():
    assert [review.queue_size(0.05, n) for n in (0, 6, 10, 1409, 200)] == [0, 1, 1, 70, 10]
    assert review.queue_size(1.0, 7) == 7


def test_queue_takes_the_most_uncertain_rows_first_and_counts_errors():
    positions = review.queue_positions(PROBA, 0.5, 3)
    assert positions.tolist() == [7, 3, 1]  # distances 0.01, 0.02, 0.05 (0.45 before 0.55: ties by position)
    s = review.queue_summary(PROBA, Y, 0.5, positions)
    assert (s["size"], s["automated"], s["errors_in"], s["errors_out"]) == (3, 5, 1, 2)
    assert s["error_rate_in"] == pytest.approx(1 / 3) and s["error_rate_out"] == pytest.approx(2 / 5)
    assert s["half_width"] == pytest.approx(0.05) and s["errors_caught_share"] == pytest.approx(1 / 3)
    table = review.error_table(s)
    assert table.loc["review queue"].tolist() == pytest.approx([3, 1, 1 / 3])
    assert table.loc["automated"].tolist() == pytest.approx([5, 2, 0.4])


def test_band_is_only_a_cap_on_top_of_capacity():
    assert review.queue_positions(PROBA, 0.5, 6, max_distance=0.03).tolist() == [7, 3]
    assert review.queue_positions(PROBA, 0.5, 2, max_distance=0.3).tolist() == [7, 3]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 1)), min_size=1, max_size=120),
       st.floats(0.05, 0.95), st.floats(0.001, 1.0))
def test_queue_matches_a_brute_force_top_k(rows, threshold, share):
    proba, y = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    size = review.queue_size(share, len(proba))
    positions = review.queue_positions(proba, threshold, size)
    distance = np.abs(proba - threshold)
    assert len(positions) == size == min(len(proba), max(1, int(np.floor(share * len(proba) + 0.5))))
    rest = np.setdiff1d(np.arange(len(proba)), positions)
    if rest.size:
        assert distance[positions].max() <= distance[rest].min()  # nothing outside is more uncertain
    s = review.queue_summary(proba, y, threshold, positions)
    errors = (proba >= threshold).astype(int) != y
    assert s["errors_in"] + s["errors_out"] == errors.sum() and s["size"] + s["automated"] == len(proba)
    assert s["errors_in"] == errors[positions].sum()


def _config(tmp_path, review_section):
    cfg = {"organization": {"name": "Acme"}, "dataset": {"path": "x.csv", "target": "y", "sensitive": ["g"]},
           "explainability": {"review": review_section}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize("section, words", [
    ({"capacity": 100}, "review.capacity: 100 rows per period needs review.volume"),
    ({"capacity": 100, "volume": 1000, "share": 0.1}, "both set"),
    ({"volume": 1000}, "review.volume: set without review.capacity"),
    ({"share": 1.5}, "share"),
])
def test_bad_review_config_is_a_config_error(tmp_path, section, words):
    (tmp_path / "x.csv").write_text("y,g\n0,a\n1,b\n")
    with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
        load_config(_config(tmp_path, section))


def test_telco_queue_follows_capacity_and_beats_the_automated_error_rate(tmp_path):
    # the old +-0.05 band sent 42% of Telco's test rows to review; 300 of 6,000 a week is 5%
    ctx = start(make_run(tmp_path, "xgboost", explain={"review": {"capacity": 300, "volume": 6000}}), tmp_path)
    inputs = phase.load_inputs(ctx)
    reasons = phase.export_reason_codes(inputs)
    queue = phase.build_review_queue(inputs, reasons)
    s, n = queue["summary"], len(inputs.y)
    assert s["size"] == round(0.05 * n) == len(queue["queue"]) == reasons.rows
    assert s["capacity"]["period"] == "week" and s["capacity"]["share"] == 0.05
    distance = np.abs(inputs.proba - inputs.threshold)
    assert queue["queue"]["distance_to_threshold"].max() <= np.sort(distance)[s["size"]] + 1e-6
    errors = inputs.decisions != inputs.y
    queued = np.isin(inputs.ids.to_numpy(), queue["queue"]["row_id"].to_numpy())
    assert (s["errors_in"], s["errors_out"]) == (errors[queued].sum(), errors[~queued].sum())
    assert s["error_rate_in"] > 2 * s["error_rate_out"]  # the most uncertain rows are where the errors are
    table = phase.review_errors(queue)
    assert table["rows"].sum() == n and table["errors"].sum() == errors.sum()
