"""Every DAG file imports cleanly and every DAG follows the house rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.models import DagBag
from airflow.sdk.exceptions import ParamValidationError
from airflow.utils.dag_cycle_tester import check_cycle

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS_DIR))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_every_dag_file_defines_a_dag(dagbag):
    files = {Path(d.fileloc).name for d in dagbag.dags.values()}
    assert files == {p.name for p in DAGS_DIR.glob("*.py")}


def test_no_cycles(dagbag):
    for dag in dagbag.dags.values():
        check_cycle(dag)


def test_tags_owner_retries_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        assert dag.default_args.get("retries", 0) >= 1, f"{dag_id} has no default retries"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
            assert task.execution_timeout is not None, f"{dag_id}.{task.task_id} has no timeout"


def test_pipeline_order(dagbag):
    dag = dagbag.dags["mqtt_pipeline"]
    down = {t.task_id: t.downstream_task_ids for t in dag.tasks}
    assert down["ingest"] == {"quality_gate"}
    assert down["quality_gate"] == {"analytics", "learning_requested"}
    assert down["learning_requested"] == {"features"}
    assert down["features"] == {"choose_models"}
    assert down["choose_models"] == {"train_lr", "train_rf", "train_tf", "train_xgb"}
    for trainer in ("train_lr", "train_rf", "train_tf", "train_xgb"):
        assert down[trainer] == {"evaluate"}
    # The evaluator registers whatever was trained: skipped trainers must not skip it.
    assert dag.get_task("evaluate").trigger_rule == "none_failed_min_one_success"


@pytest.mark.parametrize(
    "models, trainers",
    [
        (["lr", "rf", "dnn_narrow", "dnn_wide", "xgb"], ["train_lr", "train_rf", "train_tf", "train_xgb"]),
        (["rf"], ["train_rf"]),
        (["dnn_wide", "dnn_narrow"], ["train_tf"]),
    ],
)
def test_models_param_picks_the_trainers(models, trainers):
    from mqttids_airflow import learning

    assert learning.trainer_tasks(models) == trainers
    assert learning.wants_learning({"models": models})
    assert not learning.wants_learning({"models": []})


def test_the_models_default_comes_from_the_setting_and_refuses_unknown_names(monkeypatch):
    from mqttids_airflow import learning

    assert learning.params()["models"].value == ["lr", "rf", "dnn_narrow", "dnn_wide", "xgb"]
    monkeypatch.setenv("MQTTIDS_MODELS", " xgb, rf ")
    assert learning.params()["models"].value == ["rf", "xgb"]
    monkeypatch.setenv("MQTTIDS_MODELS", "rf,svm")
    with pytest.raises(ValueError, match=r"MQTTIDS_MODELS names unknown models \['svm'\]"):
        learning.params()


def test_keras_models_and_training_window():
    from mqttids_airflow import learning

    params = {"models": ["lr", "dnn_wide"], "train_days": 3}
    assert learning.keras_models(params) == "dnn_wide"
    assert learning.first_batch("2026-03-10", params) == "2026-03-08"
    assert learning.first_batch("2026-03-10", {"train_days": 1}) == "2026-03-10"


@pytest.mark.parametrize("bad", [0, -3, "five", 2.5])
def test_top_x_must_be_a_positive_integer(dagbag, bad):
    param = dagbag.dags["mqtt_pipeline"].params.get_param("top_x")
    with pytest.raises(ParamValidationError):
        param.resolve(bad)
    assert param.resolve(4) == 4


@pytest.mark.parametrize(
    "name, bad",
    [("max_reject_ratio", 1.5), ("models", ["svm"]), ("grid", "huge"), ("train_days", 0)],
)
def test_other_params_are_validated(dagbag, name, bad):
    with pytest.raises(ParamValidationError):
        dagbag.dags["mqtt_pipeline"].params.get_param(name).resolve(bad)


@pytest.mark.parametrize(
    "dag_id, name, bad",
    [
        ("mqtt_pipeline", "train_uri", " data/train.csv"),
        ("mqtt_pipeline", "top_x", 101),
        ("mqtt_pipeline", "models", ["lr", "lr"]),
        ("mqtt_pipeline", "train_days", 367),
        ("mqtt_tweet_stream", "terms", "flood dos"),
        ("mqtt_tweet_stream", "terms", ""),
        ("mqtt_tweet_stream", "duration", 3601),
        ("mqtt_tweet_stream", "source", "x"),
        ("mqtt_tweet_stream", "replay_file", "tweets.jsonl "),
        ("mqtt_tweet_stream", "window_seconds", 0),
        ("mqtt_detect", "captures", " data/capture.pcap"),
        ("mqtt_detect", "levels", ["packet", "packet"]),
        ("mqtt_detect", "levels", ["flow"]),
        ("mqtt_detect", "levels", []),
        ("mqtt_detect", "mqtt_ports", "1883;8883"),
    ],
)
def test_params_refuse_bad_values(dagbag, dag_id, name, bad):
    with pytest.raises(ParamValidationError):
        dagbag.dags[dag_id].params.get_param(name).resolve(bad)


@pytest.mark.parametrize("dag_id", ["mqtt_pipeline", "mqtt_tweet_stream", "mqtt_detect"])
def test_every_param_has_a_default_that_validates_and_an_example(dagbag, dag_id):
    """The trigger form at its defaults must be valid: a default of "" for a string is not."""
    params = dagbag.dags[dag_id].params
    for name in params:
        param = params.get_param(name)
        param.resolve(param.value)  # raises if the default is invalid
        assert "e.g." in param.description, name
        if param.schema.get("type") == ["null", "string"]:
            assert param.value is None, name


def test_empty_optional_params_mean_the_defaults(tmp_path):
    from mqttids_airflow import inputs, learning

    for empty in (None, "", "  "):
        assert inputs.source_uri({"train_uri": empty}, "2026-03-10", "train").endswith(
            "/2026-03-10/train*.csv"
        )
    given = str(tmp_path / "test.csv")
    assert inputs.source_uri({"test_uri": given}, "2026-03-10", "test") == given
    assert learning.picked({"models": None}) == []
    assert not learning.wants_learning({"models": None})
    assert learning.model_list({"models": ["lr", "rf"]}) == "lr,rf"
    assert learning.level_list({"levels": ["connection", "packet"]}) == "packet,connection"
    everything = "packet,packet_context,connection"
    assert learning.level_list({"levels": None}) == learning.level_list({}) == everything


def test_every_dag_upgrades_the_warehouse_before_anything_else(dagbag):
    """The jobs refuse an old schema revision, so each run first applies the migrations."""
    for dag_id, dag in dagbag.dags.items():
        first = dag.get_task("upgrade_warehouse")
        assert not first.upstream_task_ids, dag_id
        rest = {t.task_id for t in dag.tasks} - {first.task_id}
        assert {t.task_id for t in first.get_flat_relatives(upstream=False)} == rest, dag_id


def test_detect_scores_the_landing_folder_on_its_asset_and_named_inputs_when_triggered(dagbag, tmp_path):
    from mqttids_airflow import detect

    dag = dagbag.dags["mqtt_detect"]
    assert {t.task_id: t.downstream_task_ids for t in dag.tasks} == {
        "upgrade_warehouse": {"detect"},
        "detect": set(),
    }
    assert [a.name for a in dag.timetable.asset_condition.objects] == ["mqtt_captures"]
    assert [o.name for o in dag.get_task("detect").outlets] == ["mqtt_detections"]
    landing = detect.captures_uri({"captures": None})
    assert landing.endswith("captures") and detect.only({"captures": None}) == "new"
    named = str(tmp_path / "site.pcap")
    assert detect.captures_uri({"captures": named}) == named and detect.only({"captures": named}) == "all"
    assert detect.levels({"levels": ["connection", "packet"]}) == "connection,packet"
