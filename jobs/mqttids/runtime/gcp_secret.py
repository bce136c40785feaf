"""Reading the database URL from Google Secret Manager, for jobs on Dataproc.

On Dataproc the job's environment is visible in the job's configuration to
anyone who may view jobs, so the password does not travel there: the job is
told only the secret's name (``MQTTIDS_DB_SECRET``) and reads the URL with
the cluster's service account, which needs ``roles/secretmanager.secretAccessor``
on that one secret.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def read(name: str, client=None) -> str:
    """The text of a secret version (``projects/P/secrets/S/versions/V``), stripped."""
    if client is None:
        from google.cloud import secretmanager

        client = secretmanager.SecretManagerServiceClient()
    log.info("reading the database URL from Secret Manager: %s", name)
    response = client.access_secret_version(request={"name": name})
    return response.payload.data.decode("utf-8").strip()
