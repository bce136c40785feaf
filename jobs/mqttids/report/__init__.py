"""The run report: one self-contained HTML page per pipeline run (and per tweet-stream run), built
from the warehouse tables the other stages write, the same rows SQL users read. It is a stage of
its own and, like every stage, imports no other stage: the result tables' names live in
``mqttids.warehouse.tables`` and this package owns the SELECTs it runs on them (read), the
Plotly charts (charts) and the page (html, pages). ``make run``, the Airflow plugin's "Report"
tab and ``jobs/report.py`` all call :func:`mqttids.report.pages.pipeline_report`.
"""
