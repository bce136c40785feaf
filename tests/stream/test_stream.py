"""The tweet stream on its real path: replay server, tweepy, Kafka (tansu), consumer, PostgreSQL.

Expected counts are computed here from the replay file with a token-based
reading of the rules (split the text into words, count equal words, English
only for "dos"), not with the code under test. Each test uses its own topic,
so offsets and messages never leak between tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tweepy

from mqttids.stream.terms import TermSpec, parse_terms
from mqttids.stream.tweet_producer import TweetPublisher, sync_rules
from mqttids.xapi import replay as x_replay
from mqttids.xapi import tweet_sample

PROJECT_ROOT = Path(__file__).resolve().parents[2]
JOB = PROJECT_ROOT / "jobs" / "tweet_stream.py"
TERMS = parse_terms("slowite,bruteforce,flood,malformed,dos,legitimate")


def expected_counts(
    tweets: list[dict], plurals: bool = False, window: int = 60
) -> tuple[Counter, Counter, int]:
    """(mentions per term, mentions per (window start, term), tweets delivered).

    With ``plurals``, term + "s" counts too, for terms not already ending in "s".
    """
    totals, windows, delivered = Counter(), Counter(), 0
    for tweet in tweets:
        words = Counter(re.findall(r"\w+", tweet["text"].lower()))
        found = {t: words[t] + (words[t + "s"] if plurals and not t.endswith("s") else 0) for t in TERMS}
        hits = {t: n for t, n in found.items() if n and (t != "dos" or tweet["lang"] == "en")}
        if not hits:
            continue
        delivered += 1
        created = datetime.fromisoformat(tweet["created_at"].replace("Z", "+00:00"))
        epoch = int(created.timestamp())
        start = datetime.fromtimestamp(epoch - epoch % window, UTC)
        for term, n in hits.items():
            totals[term] += n
            windows[(start, term)] += n
    return totals, windows, delivered


@pytest.fixture(scope="module")
def replay_file(tmp_path_factory) -> tuple[Path, list[dict]]:
    tweets = tweet_sample.build(240, seed=11, span_seconds=150)
    path = tweet_sample.write(tmp_path_factory.mktemp("replay") / "tweets.jsonl", tweets)
    return path, tweets


@pytest.fixture()
def topic() -> str:
    return f"tweets_{uuid.uuid4().hex[:8]}"


def cli(step: str, *args: str, db_url: str, env: dict | None = None, timeout: int = 120):
    return subprocess.run(
        [sys.executable, str(JOB), step, "--db-url", db_url, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def start(step: str, *args: str, db_url: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(JOB), step, "--db-url", db_url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def stored(conn, run_id: str) -> tuple[Counter, Counter, int]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT window_start, term, count FROM mqtt.tweet_term_counts WHERE run_id = %s", (run_id,)
        )
        rows = cur.fetchall()
        cur.execute("SELECT count(*) FROM mqtt.tweets WHERE run_id = %s", (run_id,))
        tweets = cur.fetchone()[0]
    conn.commit()
    totals, windows = Counter(), Counter()
    for window, term, n in rows:
        totals[term] += n
        if n:
            windows[(window.astimezone(UTC), term)] += n
    return +totals, windows, tweets


def test_replay_through_kafka_counts_exactly(replay_file, kafka_bootstrap, db_url, db_conn, topic):
    path, tweets = replay_file
    common = ["--run-id", "exact", "--bootstrap", kafka_bootstrap, "--topic", topic]
    produced = cli(
        "produce", *common, "--replay-file", str(path), "--rate", "0", "--duration", "60", db_url=db_url
    )
    assert produced.returncode == 0, produced.stderr[-3000:]
    consumed = cli("consume", *common, "--duration", "60", db_url=db_url)
    assert consumed.returncode == 0, consumed.stderr[-3000:]

    totals, windows, delivered = expected_counts(tweets)
    assert f"published {delivered} tweets (replay exhausted" in produced.stdout
    assert stored(db_conn, "exact") == (totals, windows, delivered)
    assert len({w for w, _ in windows}) == 3  # 150 s of tweets from a whole minute: three windows

    chart = cli("chart", "--run-id", "exact", "--out", str(path.parent / "exact.png"), db_url=db_url)
    assert chart.returncode == 0, chart.stderr
    assert (path.parent / "exact.png").stat().st_size > 0
    for term in TERMS:
        assert re.search(rf"^  {term} +{totals[term]:,}$", chart.stdout, re.M), (term, chart.stdout)


def test_consumer_restart_mid_stream_loses_and_doubles_nothing(
    replay_file, kafka_bootstrap, db_url, db_conn, topic
):
    path, tweets = replay_file
    common = ["--run-id", "restart", "--bootstrap", kafka_bootstrap, "--topic", topic]
    producer = start(
        "produce", *common, "--replay-file", str(path), "--rate", "80", "--duration", "60", db_url=db_url
    )
    consumer = start("consume", *common, "--duration", "60", db_url=db_url)
    totals, windows, delivered = expected_counts(tweets)
    deadline = time.monotonic() + 30
    while stored(db_conn, "restart")[2] < 10 and time.monotonic() < deadline:
        time.sleep(0.1)
    consumer.send_signal(signal.SIGKILL)
    consumer.wait()
    assert 10 <= stored(db_conn, "restart")[2] < delivered, "the consumer must die mid-stream"

    second = start("consume", *common, "--duration", "60", db_url=db_url)
    assert producer.wait(timeout=60) == 0, producer.stdout.read()
    assert second.wait(timeout=60) == 0, second.stdout.read()
    assert stored(db_conn, "restart") == (totals, windows, delivered)

    # At-least-once redelivery: offsets rewound to the start count nothing twice.
    with db_conn.cursor() as cur:
        cur.execute("UPDATE mqtt.tweet_stream_offsets SET next_offset = 0 WHERE topic = %s", (topic,))
    db_conn.commit()
    again = cli("consume", *common, "--duration", "30", db_url=db_url)
    assert again.returncode == 0, again.stderr[-3000:]
    assert re.search(r"consumed [1-9]\d* messages, 0 new tweets stored", again.stdout), again.stdout
    assert stored(db_conn, "restart") == (totals, windows, delivered)


def test_rerun_of_a_run_id_replaces_it_even_with_the_first_attempt_unconsumed(
    replay_file, tmp_path, kafka_bootstrap, db_url, db_conn, topic
):
    first, _ = replay_file
    second_tweets = tweet_sample.build(60, seed=5, span_seconds=30)
    second = tweet_sample.write(tmp_path / "second.jsonl", second_tweets)
    common = ["--run-id", "rerun", "--bootstrap", kafka_bootstrap, "--topic", topic]
    for path in (first, second):  # nothing consumes the first attempt before the second starts
        produced = cli("produce", *common, "--replay-file", str(path), "--rate", "0", db_url=db_url)
        assert produced.returncode == 0, produced.stderr[-3000:]
    consumed = cli("consume", *common, "--duration", "60", db_url=db_url)
    assert consumed.returncode == 0, consumed.stderr[-3000:]
    assert "earlier attempt" in consumed.stderr
    assert stored(db_conn, "rerun") == expected_counts(second_tweets)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("step", ["produce", "consume"])
def test_broker_down_at_start_fails_clearly(step, replay_file, db_url, db_conn):
    down = f"127.0.0.1:{_closed_port()}"
    result = cli(step, "--run-id", f"down_{step}", "--bootstrap", down, "--duration", "5", db_url=db_url)
    assert result.returncode == 1
    assert f"cannot reach Kafka at {down}" in result.stderr
    with db_conn.cursor() as cur:
        cur.execute("SELECT to_regclass('mqtt.tweet_stream_runs') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute("SELECT count(*) FROM mqtt.tweet_stream_runs WHERE run_id = %s", (f"down_{step}",))
            assert cur.fetchone()[0] == 0
    db_conn.commit()


@pytest.fixture()
def replay_server(replay_file):
    """A replay server in this process whose first stream connections fail, and which drops one."""
    path, _ = replay_file
    state = x_replay.ReplayState(
        x_replay.read_tweets(path),
        token="test-token",
        rate=0,
        keepalive=0.3,
        fail=[503, 429],
        disconnect_after=25,
    )
    server = x_replay.ReplayServer(state).start()
    yield server
    server.stop()


def test_reconnects_with_backoff_on_5xx_429_and_drops(
    replay_server, replay_file, kafka_bootstrap, db_url, db_conn, topic
):
    _, tweets = replay_file
    common = ["--run-id", "flaky", "--bootstrap", kafka_bootstrap, "--topic", topic]
    env = {"X_BEARER_TOKEN": "test-token"}
    produced = cli(
        "produce",
        *common,
        "--replay-url",
        replay_server.url,
        "--backoff-scale",
        "0.01",
        "--duration",
        "60",
        db_url=db_url,
        env=env,
    )
    assert produced.returncode == 0, produced.stderr[-3000:]
    assert "HTTP 503" in produced.stderr and "HTTP 429" in produced.stderr
    assert replay_server.state.connections >= 4  # 503, 429, the dropped stream, the last one
    consumed = cli("consume", *common, "--duration", "60", db_url=db_url)
    assert consumed.returncode == 0, consumed.stderr[-3000:]
    assert stored(db_conn, "flaky") == expected_counts(tweets)


def test_wrong_token_fails_clearly(replay_server, kafka_bootstrap, db_url, topic):
    result = cli(
        "produce",
        "--run-id",
        "badtoken",
        "--bootstrap",
        kafka_bootstrap,
        "--topic",
        topic,
        "--replay-url",
        replay_server.url,
        "--duration",
        "5",
        db_url=db_url,
        env={"X_BEARER_TOKEN": "wrong"},
    )
    assert result.returncode == 1
    assert "401" in result.stderr


def test_rule_sync_is_idempotent_and_removes_stale_rules(replay_server):
    client = TweetPublisher(
        "test-token", api_url=replay_server.url, run_id="r", attempt="a", topic="t", kafka=None
    )
    spec = TermSpec(TERMS, english_only=frozenset({"dos"}))
    first = sync_rules(client, spec)
    assert sorted(first.added) == sorted(TERMS) and not first.kept and not first.deleted
    ids = {r.id for r in client.get_rules().data}
    second = sync_rules(client, spec)
    assert sorted(second.kept) == sorted(TERMS) and not second.added and not second.deleted
    assert {r.id for r in client.get_rules().data} == ids  # reused, not recreated

    client.add_rules(tweepy.StreamRule(value="legacy OR mqtt", tag="someone-else"))
    narrower = TermSpec(parse_terms("flood,dos"), plurals=True, english_only=frozenset({"dos"}))
    third = sync_rules(client, narrower)
    assert third.kept == ["dos"] and third.added == ["flood"] and len(third.deleted) == 6
    live = {(r.tag, r.value) for r in client.get_rules().data}
    assert live == {(tag, value) for tag, value in narrower.rules().items()}


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory, db_url) -> Path:
    """One migrated Airflow home for the module's DAG runs (each run its own run id and topic)."""
    from mqttids_airflow import local

    home = tmp_path_factory.mktemp("airflow")
    local.migrate({**local._environ(db_url), "AIRFLOW_HOME": str(home)})
    return home


def _dags_test(
    home: Path,
    tmp_path: Path,
    db_url: str,
    bootstrap: str,
    topic: str,
    conf: dict,
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    from mqttids_airflow import local

    env = {
        **local._environ(db_url),
        "AIRFLOW_HOME": str(home),
        "MQTTIDS_TASK_RETRIES": "0",
        "MQTTIDS_DATA_DIR": str(tmp_path / "data"),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "MQTTIDS_STREAM_TOPIC": topic,
        **(env or {}),
    }
    return subprocess.run(
        [local.AIRFLOW, "dags", "test", "mqtt_tweet_stream", "-c", json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _manual_replay_runs(conn) -> set[str]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT run_id FROM mqtt.tweet_stream_runs WHERE source = 'replay' AND run_id LIKE 'manual__%'"
        )
        found = {r for (r,) in cur.fetchall()}
    conn.commit()
    return found


def test_dag_runs_producer_consumer_and_chart(
    airflow_home, tmp_path, replay_file, kafka_bootstrap, db_url, db_conn, topic
):
    path, tweets = replay_file
    conf = {"replay_file": str(path), "duration": 60, "terms": ",".join(TERMS)}
    before = _manual_replay_runs(db_conn)  # other modules' runs share the session's database
    result = _dags_test(airflow_home, tmp_path, db_url, kafka_bootstrap, topic, conf)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    run_ids = sorted(_manual_replay_runs(db_conn) - before)
    assert len(run_ids) == 1, (run_ids, result.stdout[-3000:])
    run_id = run_ids[0]
    db_conn.commit()
    assert stored(db_conn, run_id) == expected_counts(tweets)
    assert list((tmp_path / "data" / "stream").glob("*.png"))


def test_dag_params_reach_the_stream_x_api_with_plurals_and_windows(
    airflow_home, tmp_path, replay_file, kafka_bootstrap, db_url, db_conn, topic
):
    """source=x_api: the real client path against the local X API stand-in, token from the connection."""
    path, tweets = replay_file
    server = x_replay.ReplayServer(
        x_replay.ReplayState(x_replay.read_tweets(path), token="conn-token", rate=0, keepalive=0.3)
    ).start()
    env = {
        "MQTTIDS_X_API_URL": server.url,
        "AIRFLOW_CONN_X_API": json.dumps({"conn_type": "generic", "password": "conn-token"}),
        "X_BEARER_TOKEN": "not-this-one",  # the connection's password wins
    }
    terms = ",".join(TERMS)
    conf = {"source": "x_api", "plurals": True, "window_seconds": 30, "duration": 10, "terms": terms}
    try:
        result = _dags_test(airflow_home, tmp_path, db_url, kafka_bootstrap, topic, conf, env)
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert server.state.connections >= 1  # the producer streamed from the stand-in, not the real API
    with db_conn.cursor() as cur:
        cur.execute(
            "SELECT run_id, terms, plurals, window_seconds FROM mqtt.tweet_stream_runs "
            "WHERE source = 'x_api' AND run_id LIKE 'manual__%'"
        )
        runs = cur.fetchall()
    db_conn.commit()
    assert len(runs) == 1, runs
    run_id, stored_terms, plurals, window = runs[0]
    assert (stored_terms, plurals, window) == (list(TERMS), True, 30)
    expected = expected_counts(tweets, plurals=True, window=30)
    assert expected[0] != expected_counts(tweets)[0]  # the sample has plurals: the param changes counts
    assert stored(db_conn, run_id) == expected


def test_dag_fails_fast_when_the_broker_is_down(airflow_home, tmp_path, replay_file, db_url, topic):
    """The consumer's sensor must not wait out its 10-minute timeout for a producer that failed."""
    down = f"127.0.0.1:{_closed_port()}"
    conf = {"replay_file": str(replay_file[0]), "duration": 60}
    result = _dags_test(airflow_home, tmp_path, db_url, down, topic, conf)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"cannot reach Kafka at {down}" in output
    assert "the producer ended (failed) without starting run" in output


class FlakyProxy:
    """A TCP proxy in front of the broker that can drop every connection and refuse new ones for a while."""

    def __init__(self, target: int) -> None:
        self.target, self.port = target, _closed_port()
        self.conns: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self._listen()

    def _listen(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                s.close()

    def blip(self, seconds: float) -> None:
        self.listener.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.conns = []
        time.sleep(seconds)
        self._listen()


def _wait_until_listening(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    """Return once something accepts connections on the port; fail if the process dies first."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        assert process.poll() is None, f"the broker exited with {process.returncode}"
        assert time.monotonic() < deadline, f"nothing listens on port {port} after {timeout} s"
        time.sleep(0.05)


def _wait_for(condition, timeout: float, what: str):
    """Poll ``condition`` until it returns something true; its value, or a failure naming ``what``."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what}: not reached after {timeout} s"
        time.sleep(0.05)
    return value


@pytest.fixture()
def flaky_broker(tmp_path):
    """A tansu broker reachable only through a FlakyProxy (it advertises the proxy's address)."""
    from mqttids.runtime.embedded_kafka import tansu_binary

    port = _closed_port()
    proxy = FlakyProxy(port)
    broker = subprocess.Popen(
        [
            tansu_binary(),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{proxy.port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_until_listening(port, broker)
    yield proxy
    broker.kill()  # in-memory and throwaway; SIGTERM waits for its clients
    broker.wait()


def test_broker_blip_mid_stream_loses_nothing(flaky_broker, replay_file, db_url, db_conn, topic):
    path, tweets = replay_file
    common = ["--run-id", "blip", "--bootstrap", f"127.0.0.1:{flaky_broker.port}", "--topic", topic]
    totals, windows, delivered = expected_counts(tweets)
    producer = start(
        "produce", *common, "--replay-file", str(path), "--rate", "40", "--duration", "60", db_url=db_url
    )
    consumer = start("consume", *common, "--duration", "90", db_url=db_url)
    # The blip comes when the stream is observably under way, not after a guessed time.
    before = _wait_for(lambda: (n := stored(db_conn, "blip")[2]) >= 20 and n, 60, "20 tweets stored")
    flaky_broker.blip(2.0)
    assert before < delivered, "the blip must come mid-stream"
    output = producer.communicate(timeout=90)[0]
    assert producer.returncode == 0, output[-3000:]
    assert "Connection lost" in output  # the blip did reach the producer
    consumed = consumer.communicate(timeout=90)[0]
    assert consumer.returncode == 0, consumed[-3000:]
    assert stored(db_conn, "blip") == (totals, windows, delivered)  # the rest arrived after it
