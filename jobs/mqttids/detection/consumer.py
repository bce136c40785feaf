"""The live consumer: packets from Kafka scored as they arrive, alerts stored exactly once.

Delivery is at least once, as for the tweet stream: the consumer assigns itself every
partition (no group, no rebalance wait) and reads from offsets kept in PostgreSQL. Each polled
batch is scored at once (one numpy pass per level through the champions exported by
:mod:`mqttids.detection.local_model`; no Spark job per packet), then one transaction stores the
batch's new alerts, the per-connection state it changed, end markers, dead letters and the
offsets past the batch. A consumer killed at any point restarts from offsets that match the
state it finds, so it raises the alerts an uninterrupted one would, none twice.

A connection's state (its first packet's time, its packets so far, the
:class:`mqttids.connection.state.ConnectionState` behind the ``packet_context`` level and the alerts it
has raised) lives in memory and, for every connection a batch touched, in
``mqtt.detection_state``. Memory holds only connections heard from in the last
``MQTTIDS_DETECT_IDLE_SECONDS`` of capture time (the newest packet's time, not the wall clock, so
a replay at any rate evicts alike); an evicted connection that speaks again is read back from the
table, so eviction bounds memory without changing a feature. A capture's peers
(:class:`mqttids.connection.peers.PeerState`: its packets and connection opens of the last
seconds, its open connections) are kept the same way, in ``mqtt.detection_peers``; the producer
keys a capture's packets to one partition, so they arrive in capture order.

An alert is the first packet of a connection a level's champion classes as an attack class; one
per (capture, level, connection, class). The connection level scores a connection's windows as
they close: when a packet opens the next window, when the connection has been idle for the idle
limit, and when its capture's end markers are in; its alert is the first window so classed.

Alerts reach the alerts topic through an outbox: stored with ``alert_sent = false``, published
after the commit, then marked. A crash between publishing and marking republishes them on
restart: the topic is at least once, keyed by the alert's ``detection_id``; the table is
exactly once.
"""

from __future__ import annotations

import json
import logging
import pickle
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kafka import TopicPartition
from kafka.errors import KafkaError
from psycopg2.extras import execute_values

from mqttids.connection.features import LEVELS, ConnectionState, window_seconds
from mqttids.connection.peers import PeerState
from mqttids.connection.state import WindowFeatures, micros, moment
from mqttids.detection import champions, packets, producer
from mqttids.detection.local_model import LocalModel
from mqttids.detection.tables import (
    BATCH_COLUMNS,
    DEAD_LETTER_BYTES,
    DEAD_LETTERS,
    ENDS,
    OFFSETS,
    PEERS,
    PROBABILITY_COLUMNS,
    STATE,
)
from mqttids.runtime import broker, config
from mqttids.schema import LABELS
from mqttids.warehouse.tables import DETECTIONS

log = logging.getLogger(__name__)

CONSUMER_NAME = "mqtt_detect_live"
LIVE_LEVELS = LEVELS  # packet and packet_context per packet, connection per closed window
WINDOW_LEVEL = "connection"
BENIGN = "legitimate"
PARTITIONS_WAIT = 30.0
FEATURE_NAMES = frozenset(c.name for c in packets.FEATURE_COLUMNS)

# A live alert is a batch detection row plus where it came from in Kafka and whether it was sent.
ALERT_COLUMNS = (*BATCH_COLUMNS, "kafka_partition", "kafka_offset", "published_at", "alert_sent")
STORE_ALERTS = f"""INSERT INTO {DETECTIONS} ({", ".join(ALERT_COLUMNS)}) VALUES %s
ON CONFLICT (capture, level, connection_id, window_no, predicted) DO NOTHING"""
STORE_STATE = f"""INSERT INTO {STATE} (consumer, capture, connection_id, state) VALUES %s
ON CONFLICT (consumer, capture, connection_id)
DO UPDATE SET state = EXCLUDED.state, updated_at = clock_timestamp()"""
STORE_PEERS = f"""INSERT INTO {PEERS} (consumer, capture, state) VALUES %s
ON CONFLICT (consumer, capture) DO UPDATE SET state = EXCLUDED.state, updated_at = clock_timestamp()"""
STORE_OFFSETS = f"""INSERT INTO {OFFSETS} (consumer, topic, kafka_partition, next_offset) VALUES %s
ON CONFLICT (consumer, topic, kafka_partition)
DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = clock_timestamp()"""


class ConsumerIncomplete(RuntimeError):
    """The deadline came before the capture's end markers."""


class Undecodable(ValueError):
    """A message that is not a packet or end marker of the producer's format."""


Key = tuple[str, int]  # (capture, connection id)
Place = tuple[int, int, float] | None  # a packet's Kafka partition, offset and published_at
Closed = tuple[Key, WindowFeatures, Place]  # a window to score, and its last packet's place


@dataclass
class Connection:
    """What the consumer keeps about one connection between packets (pickled into the state table)."""

    first_time: float
    context: ConnectionState
    packets: int = 0
    last_time: float = 0.0  # the capture time of its latest packet, for eviction
    alerted: set[tuple[str, str]] = field(default_factory=set)  # (level, class)
    scored: tuple[int, int] = (-1, 0)  # (window, packets) the connection level scored last
    place: Place = None  # its latest packet's Kafka place


@dataclass
class Scorer:
    """One level's champion, run in process."""

    champion: champions.Champion
    model: LocalModel


@dataclass
class ConsumeResult:
    messages: int = 0
    packets: int = 0
    windows: int = 0  # connection windows scored
    alerts: int = 0
    quarantined: int = 0
    batches: int = 0
    score_seconds: float = 0.0


def scorers(client, into, levels: tuple[str, ...] = LIVE_LEVELS) -> list[Scorer]:
    """The champions of the live levels, exported to numpy (NoChampion if there is none)."""
    found = champions.fetch_all(client, levels, into)
    out = []
    for c in found:
        network = c.network() if c.kind != "spark" else None
        out.append(Scorer(c, LocalModel.read(c.feature_pipeline, network=network, reads=c.reads)))
    return out


def decode(value: bytes | None) -> dict:
    if value is None:
        raise Undecodable("the message has no value")
    try:
        message = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise Undecodable(f"not UTF-8 JSON: {err}") from err
    if not isinstance(message, dict) or not isinstance(message.get("capture"), str):
        raise Undecodable("not an object with a string 'capture'")
    if message.get("type") == producer.END:
        if not isinstance(message.get("partitions"), int) or message["partitions"] < 1:
            raise Undecodable("end marker without a positive 'partitions'")
        return message
    if message.get("type") != producer.PACKET:
        raise Undecodable(f"unknown message type {message.get('type')!r}")
    packet, published = message.get("packet"), message.get("published_at")
    if not isinstance(packet, dict) or not isinstance(published, int | float):
        raise Undecodable("a packet message needs a 'packet' object and a numeric 'published_at'")
    missing = FEATURE_NAMES - packet.keys()
    if missing or not isinstance(packet.get(packets.EPOCH), int | float):
        raise Undecodable(f"the packet lacks {', '.join(sorted(missing)[:3]) or packets.EPOCH}")
    return message


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class BatchScorer:
    """Turns polled records into alerts, state and offsets, stored in one transaction."""

    def __init__(self, conn, topic: str, consumer: str, scoring: list[Scorer]) -> None:
        self.conn, self.topic, self.consumer = conn, topic, consumer
        self.per_packet = [s for s in scoring if s.champion.level != WINDOW_LEVEL]
        self.per_window = next((s for s in scoring if s.champion.level == WINDOW_LEVEL), None)
        self.connections: dict[Key, Connection] = {}
        self.peers: dict[str, PeerState] = {}  # per capture
        self.window = window_seconds()
        self.idle_seconds = float(config.DETECT_IDLE_SECONDS.get())
        self.newest = float("-inf")  # the latest capture time seen

    def _load(self, keys: set[Key]) -> None:
        """Bring the stored state of connections not in memory (after a restart)."""
        missing = [k for k in keys if k not in self.connections]
        if not missing:
            return
        with self.conn.cursor() as cur:
            cur.execute(
                f"""SELECT capture, connection_id, state FROM {STATE} WHERE consumer = %s
                    AND (capture, connection_id) IN (SELECT * FROM unnest(%s::text[], %s::bigint[]))""",
                (self.consumer, [c for c, _ in missing], [i for _, i in missing]),
            )
            self._unpickle(cur.fetchall())

    def _load_peers(self, captures: set[str]) -> None:
        """Bring the stored peers of captures not in memory; a capture never seen starts empty."""
        missing = sorted(captures - self.peers.keys())
        if not missing:
            return
        with self.conn.cursor() as cur:
            cur.execute(
                f"SELECT capture, state FROM {PEERS} WHERE consumer = %s AND capture = ANY(%s)",
                (self.consumer, missing),
            )
            self.peers.update((capture, pickle.loads(bytes(state))) for capture, state in cur.fetchall())
        for capture in missing:
            self.peers.setdefault(capture, PeerState())

    def _unpickle(self, rows: list[tuple]) -> None:
        for capture, connection_id, state in rows:
            self.connections.setdefault((capture, connection_id), pickle.loads(bytes(state)))

    def _decode(self, records: dict, result: ConsumeResult) -> tuple[dict, list, list, list]:
        """The batch's offsets, dead letters, end markers and packet messages."""
        offsets, dead, ends, decoded = {}, [], [], []
        for tp, batch in records.items():
            for record in batch:
                result.messages += 1
                offsets[tp.partition] = record.offset + 1
                try:
                    message = decode(record.value)
                except Undecodable as err:
                    dead.append(self._dead_letter(tp.partition, record, str(err)))
                    continue
                if message["type"] == producer.END:
                    ends.append(
                        (self.consumer, message["capture"], self.topic, tp.partition, message["partitions"])
                    )
                elif message["packet"].get(packets.STREAM) is not None:
                    decoded.append((tp.partition, record.offset, message))
        return offsets, dead, ends, decoded

    def store(self, records: dict, result: ConsumeResult) -> None:
        offsets, dead, ends, decoded = self._decode(records, result)
        alerts, touched, closed = self._score(decoded, result)
        with self.conn.cursor() as cur:
            if ends:
                execute_values(cur, f"INSERT INTO {ENDS} VALUES %s ON CONFLICT DO NOTHING", ends)
            finished = self._finished(cur, {e[1] for e in ends})
            closed += self._last_windows(finished)
            alerts += self._window_alerts(closed, result)
            touched |= finished
            if alerts:
                execute_values(cur, STORE_ALERTS, alerts, page_size=len(alerts))
                result.alerts += cur.rowcount
            if touched:
                rows = [(self.consumer, c, i, pickle.dumps(self.connections[(c, i)])) for c, i in touched]
                execute_values(cur, STORE_STATE, rows, page_size=len(rows))
                # The peers of the captures whose packets came (a batch of end markers changes none).
                changed = {c for c, _ in touched} & self.peers.keys()
                peers = [(self.consumer, c, pickle.dumps(self.peers[c])) for c in changed]
                if peers:
                    execute_values(cur, STORE_PEERS, peers, page_size=len(peers))
            if dead:
                execute_values(cur, f"INSERT INTO {DEAD_LETTERS} VALUES %s ON CONFLICT DO NOTHING", dead)
                result.quarantined += len(dead)
            execute_values(
                cur, STORE_OFFSETS, [(self.consumer, self.topic, p, o) for p, o in offsets.items()]
            )
        # Alerts, state, markers, dead letters and offsets together: a restart finds them consistent.
        self.conn.commit()
        result.batches += 1
        for key in finished:
            del self.connections[key]
        for capture in {c for c, _ in finished} - {c for c, _ in self.connections}:
            self.peers.pop(capture, None)  # stored: read back if the capture speaks again
        if finished:
            log.info("closed %d connections; %d in memory", len(finished), len(self.connections))

    def _finished(self, cur, ended: set[str]) -> set[Key]:
        """Connections whose last window closes now, then leave memory: idle for the idle limit
        (their state is stored, read back if they speak again), or of a capture whose end
        markers are all in (read back from the state table if a restart forgot them)."""
        horizon = self.newest - self.idle_seconds
        done = {key for key, state in self.connections.items() if state.last_time < horizon}
        if not ended:
            return done
        cur.execute(
            f"""SELECT capture FROM {ENDS} WHERE consumer = %s AND topic = %s AND capture = ANY(%s)
                GROUP BY capture HAVING count(*) >= max(partitions)""",
            (self.consumer, self.topic, sorted(ended)),
        )
        complete = [r[0] for r in cur.fetchall()]
        if complete:
            cur.execute(
                f"SELECT capture, connection_id, state FROM {STATE} "
                "WHERE consumer = %s AND capture = ANY(%s)",
                (self.consumer, complete),
            )
            self._unpickle(cur.fetchall())
        return done | {key for key in self.connections if key[0] in complete}

    def _last_windows(self, finished: set[Key]) -> list[Closed]:
        """The current window of each finished connection (if it has packets)."""
        closed = []
        for key in finished:
            state = self.connections[key]
            window = state.context.window()
            if window.packets:
                closed.append((key, window, state.place))
        return closed

    def _score(self, decoded: list[tuple[int, int, dict]], result: ConsumeResult):
        """Per-packet alerts, the connections touched, and the windows their packets closed."""
        started = time.perf_counter()
        self._load({(m["capture"], int(m["packet"][packets.STREAM])) for _, _, m in decoded})
        self._load_peers({m["capture"] for _, _, m in decoded})
        rows, places, closed = [], [], []
        touched: set[Key] = set()
        for partition, offset, message in decoded:
            packet = message["packet"]
            key = (message["capture"], int(packet[packets.STREAM]))
            state = self.connections.get(key)
            first = state is None
            if first:
                state = self.connections[key] = Connection(
                    packet[packets.EPOCH], ConnectionState(self.window)
                )
            state.packets += 1
            state.last_time = packet[packets.EPOCH]
            self.newest = max(self.newest, state.last_time)
            row = {**packet, "capture_time": packet[packets.EPOCH], "connection_id": key[1]}
            row.update(state.context.update(row))
            row.update(self.peers[key[0]].update(key[1], first, row, micros(packet[packets.EPOCH])))
            if state.context.closed is not None:  # this packet opened the next window
                closed.append((key, state.context.closed, state.place))
            state.place = (partition, offset, message["published_at"])
            rows.append(row)
            places.append((key, state.packets, state.place, packet[packets.EPOCH]))
            touched.add(key)
        alerts = []
        for scorer in self.per_packet if rows else []:
            probabilities = scorer.model.probabilities(rows)
            for (key, count, place, epoch), p in zip(places, probabilities, strict=True):
                span = (0, count, _moment(self.connections[key].first_time), _moment(epoch))
                alert = self._alert(scorer.champion, key, span, p, place)
                alerts += [alert] if alert else []
        result.packets += len(rows)
        result.score_seconds += time.perf_counter() - started
        return alerts, touched, closed

    def _window_alerts(self, closed: list[Closed], result: ConsumeResult) -> list[tuple]:
        """Score closed windows with the connection level's champion (if there is one), each once:
        a window scored when its connection went idle is not scored again unless it grew."""
        closed = [c for c in closed if (c[1].number, c[1].packets) != self.connections[c[0]].scored]
        if self.per_window is None or not closed:
            return []
        started = time.perf_counter()
        result.windows += len(closed)
        probabilities = self.per_window.model.probabilities([w.features for _, w, _ in closed])
        alerts = []
        for (key, window, place), p in zip(closed, probabilities, strict=True):
            self.connections[key].scored = (window.number, window.packets)
            span = (window.number, window.packets, moment(window.first_us), moment(window.last_us))
            alert = self._alert(self.per_window.champion, key, span, p, place)
            alerts += [alert] if alert else []
        result.score_seconds += time.perf_counter() - started
        return alerts

    def _alert(self, champion, key: Key, span: tuple, p, place: Place) -> tuple | None:
        """The alert row for a scored packet or window, or None when it is benign or already
        raised for its connection, level and class. ``span``: window, packets, first, last time."""
        predicted = LABELS[int(p.argmax())]
        state = self.connections[key]
        if predicted == BENIGN or (champion.level, predicted) in state.alerted:
            return None
        state.alerted.add((champion.level, predicted))
        window_no, count, first, last = span
        partition, offset, published = place or (None, None, None)
        return (
            "live",
            key[0],
            champion.level,
            key[1],
            window_no,
            first,
            last,
            count,
            predicted,
            *(float(v) for v in p),
            champion.name,
            champion.version,
            champion.mlflow_run_id,
            self.consumer,
            partition,
            offset,
            None if published is None else _moment(published),
            False,
        )

    def _dead_letter(self, partition: int, record, reason: str) -> tuple:
        raw = record.value
        log.warning(
            "quarantined the message at %s[%d] offset %d: %s", self.topic, partition, record.offset, reason
        )
        return (
            self.consumer,
            self.topic,
            partition,
            record.offset,
            None if raw is None else raw[:DEAD_LETTER_BYTES],
            0 if raw is None else len(raw),
            reason,
        )


def send_alerts(conn, kafka, alerts_topic: str, consumer: str) -> int:
    """Publish the stored alerts not yet on the topic (the outbox), then mark them sent."""
    with conn.cursor() as cur:
        cur.execute(
            f"""SELECT detection_id, capture, level, connection_id, predicted, first_time, last_time, packets,
                       {", ".join(PROBABILITY_COLUMNS)}, model, model_version
                FROM {DETECTIONS} WHERE alert_sent = false AND run_id = %s ORDER BY detection_id""",
            (consumer,),
        )
        pending = cur.fetchall()
    conn.commit()
    if not pending:
        return 0
    try:
        for row in pending:
            detection_id, capture, level, connection_id, predicted, first, last, count, *rest = row
            value = {
                "detection_id": detection_id,
                "capture": capture,
                "level": level,
                "connection_id": connection_id,
                "predicted": predicted,
                "first_time": first.isoformat(),
                "last_time": last.isoformat(),
                "packets": count,
                "probabilities": dict(zip(LABELS, rest[: len(LABELS)], strict=True)),
                "model": f"{rest[len(LABELS)]} v{rest[len(LABELS) + 1]}",
            }
            kafka.send(alerts_topic, key=str(detection_id).encode(), value=broker.encode(value))
        kafka.flush()
    except KafkaError as err:
        raise broker.BrokerUnreachable(f"publishing alerts to {alerts_topic} failed: {err}") from err
    with conn.cursor() as cur:
        cur.execute(
            f"UPDATE {DETECTIONS} SET alert_sent = true WHERE detection_id = ANY(%s)",
            ([r[0] for r in pending],),
        )
    conn.commit()
    return len(pending)


def stored_offsets(conn, consumer: str, topic: str) -> dict[int, int]:
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT kafka_partition, next_offset FROM {OFFSETS} WHERE consumer = %s AND topic = %s",
            (consumer, topic),
        )
        found = dict(cur.fetchall())
    conn.commit()
    return found


def ends_read(conn, consumer: str, capture: str, topic: str) -> tuple[int, int | None]:
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT count(*), max(partitions) FROM {ENDS} "
            "WHERE consumer = %s AND capture = %s AND topic = %s",
            (consumer, capture, topic),
        )
        read, total = cur.fetchone()
    conn.commit()
    return read, total


def _assign(kafka, conn, consumer: str, topic: str) -> None:
    deadline = time.monotonic() + PARTITIONS_WAIT
    partitions = None
    while not partitions:
        partitions = kafka.partitions_for_topic(topic)
        if not partitions and time.monotonic() > deadline:
            raise broker.BrokerUnreachable(f"topic {topic} has no partitions after {PARTITIONS_WAIT:.0f} s")
        if not partitions:
            time.sleep(0.2)
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    kafka.assign(tps)
    stored = stored_offsets(conn, consumer, topic)
    for tp in tps:
        if tp.partition in stored:
            kafka.seek(tp, stored[tp.partition])
        else:
            kafka.seek_to_beginning(tp)
    log.info("reading %s partitions %s from offsets %s", topic, sorted(partitions), stored or "the beginning")


def consume(
    *,
    conn,
    bootstrap: str,
    topic: str,
    alerts_topic: str,
    partitions: int,
    scoring: list[Scorer],
    duration: float,
    until_end_of: str | None = None,
    consumer: str = CONSUMER_NAME,
    batch_size: int = 2000,
) -> ConsumeResult:
    """Score the topic for ``duration`` s; with ``until_end_of``, stop at that capture's end markers
    (ConsumerIncomplete if they have not come by the deadline)."""
    broker.ensure_topic(bootstrap, topic, partitions)
    broker.ensure_topic(bootstrap, alerts_topic, 1)
    kafka, out = broker.consumer(bootstrap), broker.producer(bootstrap)
    result = ConsumeResult()
    deadline = time.monotonic() + duration
    try:
        _assign(kafka, conn, consumer, topic)
        send_alerts(conn, out, alerts_topic, consumer)  # what a killed consumer stored but did not send
        scorer = BatchScorer(conn, topic, consumer, scoring)
        while True:
            records = kafka.poll(timeout_ms=200, max_records=batch_size)
            if records:
                scorer.store(records, result)
                send_alerts(conn, out, alerts_topic, consumer)
            if until_end_of is not None:
                read, total = ends_read(conn, consumer, until_end_of, topic)
                if total is not None and read >= total:
                    log.info("capture %s complete: %s", until_end_of, result)
                    return result
            if time.monotonic() >= deadline:
                if until_end_of is None:
                    return result
                raise ConsumerIncomplete(
                    f"stopped after {duration:.0f} s before the end of capture {until_end_of}: "
                    "is its producer running?"
                )
    finally:
        kafka.close()
        out.close()
