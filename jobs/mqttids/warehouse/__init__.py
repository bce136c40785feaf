"""The PostgreSQL warehouse as the stages see it: the ``mqtt`` schema's table names
(tables), and which ingest batches a stage reads and how Spark reads them in parallel
(batches). Stages share tables only through here, never through each other's modules.
"""
