"""Airflow-side glue for the mqttids platform: connections, inputs and the Spark execution seam.

Jobs in ``jobs/`` know nothing of Airflow; DAG files in ``dags/`` only wire
tasks. Everything in between lives here.
"""
