"""make run's quiet output, on the record lines ``airflow dags test`` writes (see run_output).

The full runs are in test_pipeline.py; these feed the same records through a child process
to pin down the line budget, the terminal's progress line and the choice of error line.
"""

from __future__ import annotations

import io
import os
import sys

from mqttids_airflow import run_output

RUN = "manual__2026-12-01T09:42:36.019810+00:00"
SPARK = (
    "[airflow.task.hooks.airflow.providers.apache.spark.hooks.spark_submit.SparkSubmitHook] "
    "loc=spark_submit.py:965"
)
RECORDS = [
    f"2026-12-01T09:42:36.137777Z [info     ] creating dag run [airflow.serialization.definitions.dag] "
    f"loc=dag.py:615 run_id={RUN}",
    "2026-12-01T09:42:36.237369Z [info     ] [DAG TEST] starting task_id=ingest map_index=-1 "
    "[airflow.sdk.definitions.dag] loc=dag.py:1501",
    "2026-12-01T09:44:04.802301Z [info     ] Task instance state updated    "
    "[airflow.api_fastapi.execution_api.routes.task_instances] loc=task_instances.py:485 new_state=success",
    "2026-12-01T09:44:04.845914Z [info     ] [DAG TEST] end task task_id=ingest map_index=-1 "
    "[airflow.sdk.definitions.dag] loc=dag.py:1563",
    "2026-12-01T09:45:36.898353Z [info     ] [DAG TEST] starting task_id=train_tf map_index=-1 "
    "[airflow.sdk.definitions.dag] loc=dag.py:1501",
    "2026-12-01T09:46:00.000000Z [info     ] Epoch 3/7 " + SPARK,
    "2026-12-01T09:47:00.000000Z [info     ] dnn_narrow: CV macro F1 0.7002 with {'depth': 4} " + SPARK,
    "2026-12-01T09:53:23.000000Z [info     ] Task instance state updated    "
    "[airflow.api_fastapi.execution_api.routes.task_instances] loc=task_instances.py:485 new_state=success",
    "2026-12-01T09:53:23.992304Z [info     ] [DAG TEST] end task task_id=train_tf map_index=-1 "
    "[airflow.sdk.definitions.dag] loc=dag.py:1563",
    "2026-12-01T10:10:38.000000Z [info     ] [DAG TEST] starting task_id=evaluate map_index=-1 "
    "[airflow.sdk.definitions.dag] loc=dag.py:1501",
    "2026-12-01T10:10:38.453358Z [info     ] 2026-12-01 10:10:38,449 ERROR evaluate: no features at /x "
    + SPARK,
    "2026-12-01T10:10:38.453531Z [info     ] evaluate failed: no features at /x " + SPARK,
    "2026-12-01T10:10:41.101955Z [error    ] Task failed with exception     [task] loc=task_runner.py:1651",
    "airflow.sdk.exceptions.AirflowException: Cannot execute: spark-submit jobs/evaluate.py",
    "2026-12-01T10:10:41.200000Z [info     ] Task instance state updated    "
    "[airflow.api_fastapi.execution_api.routes.task_instances] loc=task_instances.py:485 new_state=failed",
    "2026-12-01T10:10:41.300000Z [info     ] [DAG TEST] end task task_id=evaluate map_index=-1 "
    "[airflow.sdk.definitions.dag] loc=dag.py:1563",
    "DagRun failed",
]


def _run(tmp_path, out):
    script = tmp_path / "records.txt"
    script.write_text("\n".join(RECORDS) + "\n")
    command = [
        sys.executable,
        "-c",
        f"import sys; sys.stdout.write(open({str(script)!r}).read()); sys.exit(1)",
    ]
    figures = []

    def figure(run_id: str, task_id: str) -> str:
        figures.append((run_id, task_id))
        return "330,936 rows loaded" if task_id == "ingest" else ""

    outcome = run_output.run_quiet(command, dict(os.environ), tmp_path / "run.log", figure, out)
    return outcome, figures


def test_one_line_per_task_as_it_ends_and_the_error_of_the_failed_one(tmp_path):
    out = io.StringIO()
    outcome, figures = _run(tmp_path, out)
    lines = out.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["ingest", "success"], ["train_tf", "success"], ["evaluate", "failed"],
    ]  # fmt: skip
    assert lines[0].endswith("330,936 rows loaded")
    assert lines[1].endswith("dnn_narrow CV macro F1 0.7002")  # the trainer's own figure
    assert figures == [(RUN, "ingest"), (RUN, "train_tf")]  # asked for successful tasks only
    assert outcome.returncode == 1 and outcome.run_id == RUN
    assert outcome.failed_task == "evaluate"
    assert outcome.error == "evaluate failed: no features at /x"  # the job's words, not the operator's
    assert (tmp_path / "run.log").read_text().splitlines() == RECORDS  # everything is in the log


def test_a_terminal_gets_one_line_per_task_and_a_progress_line(tmp_path):
    import pty

    leader, follower = pty.openpty()
    with open(follower, "w", closefd=True) as tty:
        _run(tmp_path, tty)
    shown = os.read(leader, 65536).decode()
    os.close(leader)
    finished = [line for line in shown.replace("\r\n", "\n").split("\n") if line.strip()]
    assert [line.rsplit("\r\x1b[K", 1)[-1].split()[:2] for line in finished] == [
        ["ingest", "success"], ["train_tf", "success"], ["evaluate", "failed"],
    ]  # fmt: skip
    assert "Epoch 3/7" in shown  # the step Keras reported, on the progress line


def test_a_failure_before_the_job_starts_shows_the_exception_not_the_traceback_header():
    """A task whose arguments fail to render never runs its job: its traceback's last line tells why."""
    lines = [
        "2026-12-01T22:45:29.804793Z [error    ] Exception rendering Jinja template for task 'ingest', "
        "field 'application_args'. [airflow.sdk.definitions._internal.templater] loc=templater.py:196",
        "Traceback (most recent call last):",
        '  File "/work/main/jobs/mqttids/runtime/input_paths.py", line 95, in check',
        "    raise _refusal(what, uri, roots)",
        "mqttids.runtime.input_paths.InputNotAllowed: train_uri '/tmp/x.pcap' is not an allowed input",
        "2026-12-01T22:45:29.808661Z [error    ] Task failed with exception [task] loc=task_runner.py:1676",
        "Traceback (most recent call last):",
        "Message: 'Closing down clientserver connection'",
    ]
    assert run_output.error_line(lines) == (
        "mqttids.runtime.input_paths.InputNotAllowed: train_uri '/tmp/x.pcap' is not an allowed input"
    )
