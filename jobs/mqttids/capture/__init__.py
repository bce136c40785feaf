"""Raw MQTT captures (PCAP/PCAPNG): the authors' tshark export, and a corpus of genuine traffic.

MQTTset's train/test CSVs dropped the columns that tie a packet to its TCP connection, while the
public captures, and the captures people take of their own brokers, still have them. This package
turns a capture into the authors' 60-column per-class CSV with the same tshark recipe they used
(``fields``, ``tshark``), inside Spark tasks for ingest and detection (``spark_convert``), so
captures can follow the same ingest path as CSVs, and builds a small corpus of real MQTT traffic
on loopback for each of the six MQTTset behaviours (``corpus``), so the conversion can be tested
on genuine protocol bytes without shipping any capture. Besides PySpark (``spark_convert``) it
depends only on the standard library and the tshark, dumpcap and mosquitto programs (plus
paho-mqtt for the corpus).
"""
