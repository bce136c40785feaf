"""Kafka records as the live consumer's batch scorer reads them, made in process (no broker)."""

from __future__ import annotations

import json
from collections import namedtuple

Record = namedtuple("Record", "offset value")  # what the consumer reads of a Kafka record


def as_records(messages: list[dict], first_offset: int = 0) -> list[Record]:
    """The producer's messages as consecutive records of one partition, from ``first_offset``."""
    return [Record(first_offset + n, json.dumps(m).encode()) for n, m in enumerate(messages)]
