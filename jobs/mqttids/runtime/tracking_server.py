"""Which MLflow tracking server the jobs talk to, checked before any work starts.

Both the learning stage (which logs and registers models) and the detection stage (which loads
the ``@champion`` of each level) need the same server, so the rule lives here, below the
stages: ``MLFLOW_TRACKING_URI``, else the embedded server (:mod:`mqttids.runtime.embedded_mlflow`),
started if needed. :func:`connect` checks it answers, so a job fails at once, not after an hour.
"""

from __future__ import annotations

import os

from mqttids.runtime import config


class TrackingUnavailable(RuntimeError):
    """The MLflow tracking server does not answer, or its artifact store refuses files."""


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI``, else the embedded server (started if needed)."""
    uri = config.MLFLOW_TRACKING_URI.get()
    if uri:
        return uri
    from mqttids.runtime import embedded_mlflow

    try:
        return embedded_mlflow.ensure_running()
    except embedded_mlflow.MlflowServerError as err:
        raise TrackingUnavailable(str(err)) from err


def check(uri: str) -> None:
    """Fail at once, with the address, when an HTTP tracking server does not answer."""
    from mqttids.runtime import embedded_mlflow

    if uri.startswith(("http://", "https://")) and not embedded_mlflow.healthy(uri, timeout=5):
        raise TrackingUnavailable(
            f"MLflow tracking server {uri} does not answer (GET /health failed): start it "
            "(make mlflow) or point MLFLOW_TRACKING_URI at a running server"
        )


def connect(uri: str | None = None):
    """An MlflowClient on the checked server; the fluent API (mlflow.log_*) uses it too."""
    import mlflow
    from mlflow import MlflowClient

    uri = uri or tracking_uri()
    check(uri)
    # A server that dies mid-run fails the task in about a minute, not after MLflow's long backoff.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    mlflow.set_tracking_uri(uri)
    return MlflowClient(uri)
