# The Airflow image of the docker-compose stack: the official image of the Airflow version in
# requirements.txt, plus Java 17 and the PostgreSQL JDBC driver for Spark, and the project's pinned
# Python dependencies (PySpark among them). DAGs, plugins and jobs are mounted by docker-compose.yaml.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless libpostgresql-jdbc-java \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /opt/airflow/data /opt/mlflow/artifacts \
    && chown airflow:0 /opt/airflow/data /opt/mlflow/artifacts

USER airflow
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/mqttids/
RUN pip install --no-cache-dir -r /opt/mqttids/requirements.txt -c /opt/mqttids/constraints.txt

ENV POSTGRES_JDBC_JAR=/usr/share/java/postgresql.jar \
    PYTHONPATH=/opt/airflow/jobs
