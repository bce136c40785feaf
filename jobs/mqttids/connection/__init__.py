"""What a packet's TCP connection says about it: causal "so far" features and window aggregates.

Per-packet models hit a ceiling on MQTTset: many packets are byte-for-byte the same in every class.
Their connection tells them apart (how many packets came before, how many CONNECTs, which
keep-alive, which CONNACK codes, how long, how much data). This package computes those features
once, for the learning stage (Spark: :func:`features.packet_context`,
:func:`features.connection_windows`) and for live scoring (pure Python:
:class:`features.ConnectionState`), from one definition (:mod:`aggregates`) so both agree.
It sits beside ``capture`` and ``xapi``: stages import it, it imports only the schema and runtime.
"""
