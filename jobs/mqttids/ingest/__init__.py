"""Ingest: MQTTset files from local paths or ``gs://`` into typed ``mqtt.packets`` partitions.
Sources are planned (sources), lines parsed and validated against the schema (parsing), typed
rows streamed into PostgreSQL with COPY from every Spark task (copy_sink), the batch swapped in
atomically (loading), and the batch checked before anything downstream reads it (quality).
"""
