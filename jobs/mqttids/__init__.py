"""mqttids: MQTT intrusion detection on MQTTset, as plain PySpark programs.

One folder per stage (ingest, analytics, learning, stream) over a shared runtime and warehouse;
``schema`` is the single source of truth for MQTTset's columns, types and constraints.
The allowed import directions are the contracts in ``.importlinter`` (checked by ``make test``).
"""
