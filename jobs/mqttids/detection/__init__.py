"""Detection: scoring traffic nobody labelled with the champion of each feature level.

Batch (:mod:`~mqttids.detection.batch`): captures and raw per-class CSVs are converted with the
MQTTset authors' tshark recipe, parsed (:mod:`~mqttids.detection.packets`), given the features of
each level with the champion's own fitted pipeline, scored, and written per connection to
``mqtt.detections`` with a per-capture summary. Live (:mod:`~mqttids.detection.producer`,
:mod:`~mqttids.detection.consumer`): packets published to Kafka are scored as they arrive, with
per-connection state, by the champion exported to plain Python (:mod:`~mqttids.detection.local_model`);
alerts go to ``mqtt.detections`` and an alerts topic, offsets and state committed with the rows.
"""
