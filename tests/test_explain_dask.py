"""Phase 3 on the Dask engine: the same figures as the local engine, with the test rows left on the cluster.

A real trained Telco run is explained twice, once locally and once with a ``compute:`` section pointing at a
LocalCluster of two worker processes (the bundled CSV as one partition, and the same frame in three
partitions): SHAP sample and importance, fairness, review queue, reason codes, model card facts and the
promotion decision must be equal. ``explainability.shap_all_rows`` computes the importance over every test row
per partition; it must equal the in-process figure over every row and shap.TreeExplainer's. Regression and
multiclass champions (UCI adult) run the same steps on a frame split in three partitions.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")

from kit.compute.lazy import LazyData  # noqa: E402
from kit.explain import display, phase, shapley  # noqa: E402
from kit.notebook import start  # noqa: E402

SMALL = {"explainability": {"fairness": {"bootstrap": 40}, "max_sample_rows": 400}}  # a true sample of the 1,409 test rows


def run_steps(ctx) -> dict:
    """Every step of notebook 03 that computes a figure, in order (figures drawn where the rows matter)."""
    inputs = phase.load_inputs(ctx)
    glob = phase.explain_global(inputs)
    display.beeswarm(glob, inputs)
    display.dependence(glob, inputs)
    local = phase.local_explanations(inputs)
    reasons = phase.export_reason_codes(inputs)
    fair = phase.assess_fairness(inputs)
    sensitive = phase.check_sensitive_inputs(inputs, fair)
    tag = phase.record_fairness_gate(inputs, fair)
    queue = phase.build_review_queue(inputs, reasons)
    gate = phase.check_tier(inputs, glob, reasons, fair, queue)
    promotion = phase.decide_promotion(inputs, fair, gate)
    facts = phase.model_card_facts(inputs, glob, reasons, fair, queue, gate, promotion)
    card = phase.write_model_card(inputs, facts)
    artifact = phase.explain_artifact(inputs, glob, reasons, fair, tag, queue, gate, card, promotion)
    return {"inputs": inputs, "glob": glob, "local": local, "reasons": reasons, "fair": fair, "sensitive": sensitive,
            "queue": queue, "gate": gate, "promotion": promotion, "facts": facts, "artifact": artifact}


def _three_partitions(real_load_lazy):
    """load_lazy giving the same cleaned frame in three partitions (index = position, known divisions)."""
    def load(spec, client):
        one = real_load_lazy(spec, None)
        frame = one.compute(one.frame)[0]
        return LazyData(dd.from_pandas(frame, npartitions=3, sort=True), one.rows, one.notes, client)
    return load


@pytest.fixture(scope="module")
def runs(telco_runs, client, tmp_path_factory):
    """The explain steps on one trained run: locally, on Dask in one partition and on Dask in three."""
    import kit.compute.lazy as lazy_mod

    out = {}
    for name, parts in (("local", None), ("dask1", 1), ("dask3", 3)):
        sections = dict(SMALL)
        if parts:
            sections["compute"] = {"engine": "dask", "address": client.scheduler.address}
        root = tmp_path_factory.mktemp(f"explain_{name}")
        config = telco_runs.copy(root, "xgboost", sections)
        with pytest.MonkeyPatch.context() as mp:
            if parts == 3:
                mp.setattr(lazy_mod, "load_lazy", _three_partitions(lazy_mod.load_lazy))
            out[name] = run_steps(start(config, root, interactive=False))
    return out


def _plain(value):
    """JSON text of a result (frames as records), for whole-structure equality."""
    return json.loads(json.dumps(value, default=lambda v: v.to_dict("records") if isinstance(v, pd.DataFrame) else str(v)))


@pytest.mark.parametrize("engine", ["dask1", "dask3"])
def test_dask_engine_gives_the_local_figures(runs, engine):
    local, dask = runs["local"], runs[engine]
    assert dask["inputs"].engine == "dask" and local["inputs"].engine == "local"
    assert dask["inputs"].rows.frame.npartitions == int(engine[-1])
    # the rows, labels and outputs in the same (recorded) order
    assert dask["inputs"].ids.tolist() == local["inputs"].ids.tolist()
    np.testing.assert_array_equal(dask["inputs"].y, local["inputs"].y)
    np.testing.assert_array_equal(dask["inputs"].proba, local["inputs"].proba)
    # SHAP: the same seeded sample, the same importance table and stability
    np.testing.assert_array_equal(dask["glob"].positions, local["glob"].positions)
    pd.testing.assert_frame_equal(dask["glob"].importance, local["glob"].importance)
    pd.testing.assert_frame_equal(dask["glob"].sample, local["inputs"].prepared.iloc[local["glob"].positions])
    assert dask["glob"].stability == local["glob"].stability
    # local explanations, reason codes, fairness, review queue
    assert dask["local"]["ids"] == local["local"]["ids"]
    pd.testing.assert_frame_equal(dask["local"]["values"], local["local"]["values"])
    pd.testing.assert_frame_equal(dask["local"]["contributions"].values, local["local"]["contributions"].values)
    pd.testing.assert_frame_equal(dask["reasons"].table, local["reasons"].table)
    assert _plain(dask["artifact"]["fairness"]) == _plain(local["artifact"]["fairness"])
    pd.testing.assert_frame_equal(dask["queue"]["queue"], local["queue"]["queue"])
    pd.testing.assert_frame_equal(dask["queue"]["curve"], local["queue"]["curve"])
    # the model card's facts and the promotion decision
    assert _plain(dask["facts"]) == _plain(local["facts"])
    assert _plain(dask["promotion"]) == _plain(local["promotion"])
    for key in ("global_importance", "stability", "tier_gate", "fairness_gate", "headline", "headline_status"):
        assert _plain(dask["artifact"][key]) == _plain(local["artifact"][key]), key


def test_artifact_states_the_engine_and_the_rows_gathered(runs):
    local, dask = runs["local"]["artifact"], runs["dask3"]["artifact"]
    n, sample = local["shap"]["test_rows"], local["shap"]["sample_rows"]
    assert local["engine"]["name"] == "local" and dask["engine"]["name"] == "dask"
    assert dask["shap"]["sample_rows"] == dask["shap"]["importance_rows"] == sample < n
    assert dask["shap"]["sample_seed"] == 7 and f"seeded sample of {sample:,} of {n:,} test rows (seed 7)" == dask["engine"]["shap"]
    assert runs["dask3"]["facts"]["explanations"]["importance_over"] == dask["engine"]["shap"]
    assert "**Engine**: Dask, 3 partition(s)" in display.inputs_summary(runs["dask3"]["inputs"]).data
    gathered = dask["engine"]["gathered_to_client"]
    assert gathered["SHAP sample"] == sample
    assert gathered["reason codes"] == dask["reason_codes"]["rows"] == dask["review_queue"]["size"] < n
    assert gathered["local explanations"] == 2 and dask["engine"]["partitions"] == 3
    json.dumps(_plain(dask))  # JSON-ready


def test_shap_over_every_row_on_dask_equals_every_row_in_process_and_treeexplainer(runs):
    local, dask = runs["local"]["inputs"], runs["dask3"]["inputs"]
    settings = local.settings.model_copy(update={"shap_all_rows": True})
    on_dask = phase.explain_global(dataclasses.replace(dask, settings=settings))
    in_process = phase.explain_global(dataclasses.replace(local, settings=settings))
    assert on_dask.importance_rows == in_process.importance_rows == phase.EVERY_ROW
    assert phase.shap_rows_text(dask, on_dask).startswith(f"importance over every test row ({len(local.y):,})")
    assert on_dask.importance["feature"].tolist() == in_process.importance["feature"].tolist()
    cols = ["mean_abs_shap", "mean_shap", "share"]
    np.testing.assert_allclose(on_dask.importance[cols], in_process.importance[cols], rtol=1e-6, atol=1e-9)
    reference = shapley.global_importance(shapley.treeexplainer_contributions(local.model.booster, local.prepared))
    np.testing.assert_allclose(on_dask.importance.set_index("feature")[cols],
                               reference.set_index("feature").loc[on_dask.importance["feature"], cols], atol=2e-5)
    # a different figure from the sample's: the option really changes what the table covers
    assert not np.allclose(on_dask.importance.set_index("feature")["mean_abs_shap"],
                           runs["dask3"]["glob"].importance.set_index("feature").loc[on_dask.importance["feature"], "mean_abs_shap"])


def test_high_tier_reason_codes_for_every_row_and_the_refit_stated_as_local_only(runs, tmp_path):
    local, dask = runs["local"]["inputs"], runs["dask3"]["inputs"]
    local_high = dataclasses.replace(local, tier="high", out_dir=tmp_path / "local")
    dask_high = dataclasses.replace(dask, tier="high", out_dir=tmp_path / "dask")
    a, b = phase.export_reason_codes(local_high), phase.export_reason_codes(dask_high)
    assert b.rows == a.rows == len(local.y) and b.scope == "every scored row (high tier)"
    pd.testing.assert_frame_equal(b.table, a.table)
    assert "reason codes" not in dask.rows.gathered or dask.rows.gathered["reason codes"] < len(local.y)  # on the workers
    fair = phase.assess_fairness(dask_high)
    phase.check_sensitive_inputs(dask_high, fair)
    record = fair["sensitive_inputs"]
    assert record["used"] and not record["compared"] and "Dask engine" in record["not_compared"]
    assert any("not measured on the Dask engine" in f for c in fair["columns"] for f in c["findings"])


def _reorder_test_split(root) -> np.ndarray:
    """Record the test rows in a seeded non-sorted order (as a time-ordered split records them); returns it."""
    from kit.training.data import PARTS, SPLIT_FILE, index_hash

    path = root / "artifacts" / SPLIT_FILE
    record = json.loads(path.read_text(encoding="utf-8"))
    test = np.random.default_rng(3).permutation(record["positions"]["test"])
    record["positions"]["test"] = test.tolist()
    record["index_hash"] = index_hash({p: np.asarray(record["positions"][p]) for p in PARTS})
    path.write_text(json.dumps(record), encoding="utf-8")
    return test


def test_rows_come_in_the_recorded_order_when_it_is_not_position_order(telco_runs, client, tmp_path):
    inputs = {}
    for name, sections in (("local", SMALL), ("dask", {**SMALL, "compute": {"engine": "dask", "address": client.scheduler.address}})):
        root = tmp_path / name
        config = telco_runs.copy(root, "xgboost", sections)
        order = _reorder_test_split(root)
        inputs[name] = phase.load_inputs(start(config, root, interactive=False))
    local, dask = inputs["local"], inputs["dask"]
    np.testing.assert_array_equal(local.X.index.to_numpy(), order)  # the local engine keeps the recorded order
    np.testing.assert_array_equal(dask.rows.index, order)
    assert dask.ids.tolist() == local.ids.tolist()
    np.testing.assert_array_equal(dask.y, local.y)
    np.testing.assert_array_equal(dask.proba, local.proba)
    positions = np.array([5, 0, 77])
    pd.testing.assert_frame_equal(dask.raw_rows(positions), local.X.iloc[positions])
    pd.testing.assert_frame_equal(dask.column("gender").to_frame(), local.X[["gender"]])


# ---- regression and multiclass champions on three partitions (one without test rows) -----------------------------------------
def task_pair(task: str, client, out_dir) -> tuple[phase.ExplainInputs, phase.ExplainInputs]:
    """The same regression or multiclass champion's inputs: rows in memory, and rows in three Dask partitions."""
    from test_explain_tasks import task_inputs

    base = task_inputs(task, out_dir, tier="medium", review={"share": 0.05})
    dataset = base.X.reset_index(drop=True)  # positions as the index, as the lazy dataset has them
    test = np.arange(len(dataset) // 2, len(dataset))  # the later rows: the first partition holds no test row
    X = dataset.iloc[test]
    local = dataclasses.replace(base, X=X, prepared=base.model.prepare(X), ids=phase.row_ids(X, []), y=base.y[test],
                                proba=phase.model_output(base.model, X, task))
    lazy = LazyData(dd.from_pandas(dataset, npartitions=3, sort=True), len(dataset), [], client)
    frame = lazy.subset(test)
    assert lazy.compute(frame.map_partitions(len))[0].tolist()[0] == 0  # an empty partition, as a time split gives
    rows, output = phase.dask_rows(base.model, frame, lazy, task, list(base.spec.sensitive))
    dask = dataclasses.replace(local, X=None, prepared=None, rows=rows, proba=output, ids=phase.row_ids(rows.small, []),
                               out_dir=out_dir / "dask", cache={})
    return local, dask


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_regression_and_multiclass_on_three_partitions(task, client, tmp_path):
    local, dask = task_pair(task, client, tmp_path)
    np.testing.assert_allclose(dask.proba, local.proba, rtol=0, atol=0)
    a, b = phase.explain_global(local), phase.explain_global(dask)
    np.testing.assert_array_equal(a.positions, b.positions)
    pd.testing.assert_frame_equal(a.importance, b.importance)
    ra, rb = phase.export_reason_codes(local), phase.export_reason_codes(dask)
    pd.testing.assert_frame_equal(ra.table, rb.table)
    high = [phase.export_reason_codes(dataclasses.replace(i, tier="high")) for i in (local, dask)]  # every row, per partition
    assert high[1].rows == len(local.y)
    pd.testing.assert_frame_equal(high[0].table, high[1].table)
    fa, fb = phase.assess_fairness(local), phase.assess_fairness(dask)
    assert _plain(fa) == _plain(fb)
    qa, qb = phase.build_review_queue(local, ra), phase.build_review_queue(dask, rb)
    pd.testing.assert_frame_equal(qa["queue"], qb["queue"])
    summary = lambda q: {k: v for k, v in q["summary"].items() if k != "path"}  # noqa: E731
    assert _plain(summary(qa)) == _plain(summary(qb))
    # every row: per partition on the cluster = in process = shap.TreeExplainer
    every = {"shap_all_rows": True}
    on_dask = phase.every_row_importance(dataclasses.replace(dask, settings=dask.settings.model_copy(update=every)))
    in_process = phase.every_row_importance(local)
    assert on_dask["feature"].tolist() == in_process["feature"].tolist()
    assert list(on_dask.columns) == list(in_process.columns)
    numbers = [c for c in on_dask.columns if c not in ("rank", "feature")]
    np.testing.assert_allclose(on_dask[numbers], in_process[numbers], rtol=1e-6, atol=1e-9)
    booster, prepared = local.model.booster, local.prepared
    if task == "regression":
        reference = shapley.global_importance(shapley.treeexplainer_contributions(booster, prepared))
    else:
        reference = shapley.global_importance(shapley.treeexplainer_class_contributions(booster, prepared).total_abs())
    np.testing.assert_allclose(on_dask.set_index("feature")["mean_abs_shap"],
                               reference.set_index("feature").loc[on_dask["feature"], "mean_abs_shap"], rtol=1e-4, atol=1e-5)
