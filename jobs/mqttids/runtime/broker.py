"""Kafka connections of the tweet stream: where the broker is, and clear errors when it is not.

``KAFKA_BOOTSTRAP_SERVERS`` names a production Kafka; empty means the embedded
broker (:mod:`mqttids.runtime.embedded_kafka`). Every client is created through here,
so a broker that is down fails the task at once with one readable line instead
of kafka-python's retry noise.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from mqttids.runtime import config

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = 5000


class BrokerUnreachable(RuntimeError):
    """No Kafka broker answered at the configured address."""


def resolve_bootstrap(bootstrap: str | None = None) -> str:
    """The argument, else KAFKA_BOOTSTRAP_SERVERS, else the embedded broker (started if needed)."""
    bootstrap = bootstrap or config.KAFKA_BOOTSTRAP_SERVERS.get()
    if bootstrap:
        return bootstrap
    from mqttids.runtime import embedded_kafka

    return embedded_kafka.ensure_running()


def _unreachable(bootstrap: str, err: Exception) -> BrokerUnreachable:
    return BrokerUnreachable(f"cannot reach Kafka at {bootstrap}: {err}")


def producer(bootstrap: str) -> KafkaProducer:
    """A producer that waits for every acknowledgement and retries sends across broker blips."""
    try:
        return KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            retries=10,
            retry_backoff_ms=500,
            # One request in flight keeps each partition in send order across retries.
            max_in_flight_requests_per_connection=1,
            delivery_timeout_ms=120_000,
            linger_ms=5,
            bootstrap_timeout_ms=CONNECT_TIMEOUT_MS,
        )
    except KafkaError as err:
        raise _unreachable(bootstrap, err) from err


def encode(value: dict[str, Any]) -> bytes:
    """A message value: compact JSON (producers send bytes, so no serializer objects are needed)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def consumer(bootstrap: str) -> KafkaConsumer:
    """A consumer without a group: partitions are assigned and offsets kept in PostgreSQL."""
    try:
        return KafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,  # a quiet topic answers within 0.1 s instead of 0.5 s: lower latency
            bootstrap_timeout_ms=CONNECT_TIMEOUT_MS,
        )
    except KafkaError as err:
        raise _unreachable(bootstrap, err) from err


def ensure_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create the topic unless it exists (both the producer and the consumer call this first)."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=CONNECT_TIMEOUT_MS)
    except KafkaError as err:
        raise _unreachable(bootstrap, err) from err
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        log.info("created topic %s with %d partitions", topic, partitions)
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
