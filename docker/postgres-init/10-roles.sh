#!/usr/bin/env bash
# Runs once, when the postgres volume is first initialised, as the superuser the image creates
# (POSTGRES_USER, whose password only this container knows). It makes least-privilege roles:
#   mqttids          owns the warehouse database mqttids (the DAG tasks' connection), nothing else
#   airflow          owns Airflow's metadata database airflow, nothing else
#   mqttids_analyst  reads the warehouse's tables, writes nothing; it may log in only when
#                    MQTTIDS_ANALYST_PASSWORD is set
# None of them is a superuser or may create roles or databases, and no role reaches a database
# other than its own (CONNECT is revoked from PUBLIC). tests/security/test_compose_roles.py runs
# this script against a real PostgreSQL and checks what each role can and cannot do.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
    -v mqttids_password="$MQTTIDS_DB_PASSWORD" \
    -v airflow_password="$AIRFLOW_DB_PASSWORD" \
    -v analyst_password="${MQTTIDS_ANALYST_PASSWORD:-}" <<'SQL'
CREATE ROLE mqttids LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'mqttids_password';
CREATE ROLE airflow LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'airflow_password';
CREATE ROLE mqttids_analyst NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
SELECT :'analyst_password' <> '' AS analyst_may_log_in \gset
\if :analyst_may_log_in
ALTER ROLE mqttids_analyst LOGIN PASSWORD :'analyst_password';
\endif

CREATE DATABASE mqttids OWNER mqttids;
CREATE DATABASE airflow OWNER airflow;
REVOKE ALL ON DATABASE mqttids FROM PUBLIC;
REVOKE ALL ON DATABASE airflow FROM PUBLIC;
REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
REVOKE CONNECT ON DATABASE template1 FROM PUBLIC;
GRANT CONNECT ON DATABASE mqttids TO mqttids_analyst;

-- What the warehouse owner creates later (schema mqtt, its tables) the analyst may read.
\connect mqttids
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO mqttids_analyst;
ALTER DEFAULT PRIVILEGES FOR ROLE mqttids GRANT USAGE ON SCHEMAS TO mqttids_analyst;
ALTER DEFAULT PRIVILEGES FOR ROLE mqttids GRANT SELECT ON TABLES TO mqttids_analyst;
ALTER DEFAULT PRIVILEGES FOR ROLE mqttids GRANT SELECT ON SEQUENCES TO mqttids_analyst;
SQL
