"""The producer: X filtered stream (tweepy StreamingClient) into Kafka, for a bounded time.

It syncs one rule per term (tag = the term), connects to the stream, and
publishes every tweet as JSON to the topic, keyed by tweet id, with the run id
and the tags of the rules it matched. When the duration is up, or a replay
server says its file is exhausted and every tweet it sent has arrived, it sends
an end-of-run marker to every partition and stops.

tweepy's own reconnect loop waits fixed X-documented times that cannot be
shortened, so this module drives reconnection itself with the same policy
(:class:`Backoff`: exponential from 5 s for HTTP errors, from 60 s for 429,
linear 250 ms steps for network errors), scaled down only in tests. The client
is unchanged otherwise; for the replay source a requests adapter sends its
``https://api.twitter.com`` traffic to the local server instead.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
import tweepy
from requests.adapters import HTTPAdapter

from mqttids.runtime import broker
from mqttids.stream.terms import TermSpec

log = logging.getLogger(__name__)

X_API = "https://api.twitter.com"
TWEET_FIELDS = ["created_at", "author_id", "lang"]


class ProducerFailed(RuntimeError):
    """The stream could not be read or published (the message says why)."""


class ApiHostAdapter(HTTPAdapter):
    """Sends requests for the X API host to another base URL (a replay server)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request, **kwargs):
        request.url = self.base_url + request.path_url
        return super().send(request, **kwargs)


@dataclass
class Backoff:
    """The X API's reconnect policy; ``scale`` < 1 shortens every wait (tests only)."""

    scale: float = 1.0
    http_wait: float = 0.0
    network_wait: float = 0.0

    def reset(self) -> None:
        self.http_wait = self.network_wait = 0.0

    def after_http_error(self, status: int) -> float:
        start = 60.0 if status in (420, 429) else 5.0
        self.http_wait = min(max(self.http_wait * 2, start), 320.0)
        return self.http_wait * self.scale

    def after_network_error(self) -> float:
        self.network_wait = min(self.network_wait + 0.25, 16.0)
        return self.network_wait * self.scale


@dataclass
class ProduceResult:
    published: int
    rules: RuleSync
    stop_reason: str


@dataclass
class RuleSync:
    kept: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"rules: {len(self.kept)} kept, {len(self.added)} added, {len(self.deleted)} deleted"


def sync_rules(client: tweepy.StreamingClient, spec: TermSpec) -> RuleSync:
    """Make the stream's rules exactly one per term: reuse matching ones, delete the rest, add missing."""
    wanted = {value: tag for tag, value in spec.rules().items()}
    existing = client.get_rules().data or []
    result, seen = RuleSync(), set()
    for rule in existing:
        if wanted.get(rule.value) == rule.tag and rule.value not in seen:
            seen.add(rule.value)
            result.kept.append(rule.tag)
        else:
            result.deleted.append(rule.id)
    if result.deleted:
        client.delete_rules(result.deleted)
    missing = [tweepy.StreamRule(value=v, tag=t) for v, t in wanted.items() if v not in seen]
    if missing:
        response = client.add_rules(missing)
        if response.errors:
            raise ProducerFailed(f"X rejected rules: {response.errors}")
        result.added = [rule.tag for rule in missing]
    log.info("%s", result)
    return result


class TweetPublisher(tweepy.StreamingClient):
    """A StreamingClient whose callbacks publish to Kafka and hand reconnect decisions to :func:`stream`."""

    def __init__(
        self, bearer_token: str, *, api_url: str, run_id: str, attempt: str, topic: str, kafka, **kwargs
    ) -> None:
        super().__init__(bearer_token, **kwargs)
        if api_url.rstrip("/") != X_API:
            self.session.mount(X_API + "/", ApiHostAdapter(api_url))
        self.run_id, self.attempt, self.topic, self.kafka = run_id, attempt, topic, kafka
        self.published = 0
        self.connections = 0
        self.event: tuple[str, int] = ("", 0)  # why the last connection ended
        self.failure: BaseException | None = None
        self.send_error: BaseException | None = None
        self.should_stop: Callable[[bool], str] = lambda quiet: ""
        self.backoff = Backoff()

    def on_connect(self) -> None:
        self.connections += 1
        self.backoff.reset()
        log.info("stream connected (connection %d)", self.connections)

    def on_response(self, response) -> None:
        if self.send_error is not None:
            raise ProducerFailed(f"publishing to Kafka failed: {self.send_error}")
        if response.data is None:
            return
        tweet = response.data.data
        message = {
            "type": "tweet",
            "run_id": self.run_id,
            "attempt": self.attempt,
            "id": tweet["id"],
            "text": tweet["text"],
            "created_at": tweet.get("created_at"),
            "author_id": tweet.get("author_id"),
            "lang": tweet.get("lang"),
            "matching_rules": sorted({rule.tag for rule in response.matching_rules if rule.tag}),
            "published_at": time.time(),
        }
        future = self.kafka.send(self.topic, key=tweet["id"].encode(), value=broker.encode(message))
        future.add_errback(self._send_failed)
        self.published += 1
        if self.published % 1000 == 0:
            log.info("%d tweets published", self.published)
        self._check_stop()

    def _send_failed(self, err: BaseException) -> None:
        self.send_error = err

    def _check_stop(self, quiet: bool = False) -> None:
        reason = self.should_stop(quiet)
        if reason:
            self.event = (reason, 0)
            self.disconnect()

    def on_keep_alive(self) -> None:
        self._check_stop(quiet=True)

    def on_request_error(self, status_code: int) -> None:
        log.warning("stream answered HTTP %d", status_code)
        self.event = ("http", status_code)
        self.disconnect()

    def on_connection_error(self) -> None:
        log.warning("stream connection failed or timed out")
        self.event = ("network", 0)
        self.disconnect()

    def on_closed(self, response) -> None:
        if not self.running:
            return  # tweepy reports our own disconnect() as a close too
        log.warning("stream closed by the server")
        self.event = ("network", 0)
        self.disconnect()

    def on_exception(self, exception: Exception) -> None:
        self.failure = exception


def _replay_status(api_url: str) -> Callable[[], dict]:
    session = requests.Session()
    return lambda: session.get(api_url.rstrip("/") + "/replay/status", timeout=5).json()


def stream(client: TweetPublisher, *, duration: float, backoff: Backoff, replay_url: str | None) -> str:
    """Read the stream until the deadline (or the replay's end); returns why it stopped."""
    deadline = time.monotonic() + duration
    status = _replay_status(replay_url) if replay_url else None

    def should_stop(quiet: bool) -> str:
        """Checked after every tweet; the replay server is asked only when the stream is quiet."""
        if time.monotonic() >= deadline:
            return "duration"
        if quiet and status is not None:
            replay = status()
            if replay["exhausted"] and replay["sent"] <= client.published:
                return "replay exhausted"
        return ""

    client.should_stop = should_stop
    client.backoff = backoff
    while True:
        client.event = ("", 0)
        client.filter(tweet_fields=TWEET_FIELDS)
        if client.failure is not None:
            raise ProducerFailed(f"stream failed: {client.failure}") from client.failure
        kind, code = client.event
        if kind in ("duration", "replay exhausted"):
            return kind
        if kind == "http" and code in (400, 401, 403, 404):
            raise ProducerFailed(f"the X API refused the stream with HTTP {code}: check the token and rules")
        wait = backoff.after_http_error(code) if kind == "http" else backoff.after_network_error()
        if time.monotonic() + wait >= deadline:
            return "duration"
        log.info("reconnecting in %.2f s", wait)
        time.sleep(wait)


def send_end_markers(kafka, topic: str, run_id: str, attempt: str, published: int) -> int:
    """One end-of-run marker per partition: the consumer knows the run is complete when it has read all."""
    partitions = sorted(kafka.partitions_for(topic))
    for partition in partitions:
        marker = {
            "type": "end",
            "run_id": run_id,
            "attempt": attempt,
            "published": published,
            "partitions": len(partitions),
        }
        kafka.send(topic, key=b"end", value=broker.encode(marker), partition=partition)
    return len(partitions)


def produce(
    *,
    run_id: str,
    attempt: str,
    spec: TermSpec,
    bootstrap: str,
    topic: str,
    partitions: int,
    duration: float,
    source: str,
    token: str = "",
    api_url: str = "",
    replay_file: Path | None = None,
    rate: float = 50.0,
    backoff: Backoff | None = None,
) -> ProduceResult:
    """Run the producer for at most ``duration`` seconds.

    ``source`` ``replay``: replay ``replay_file`` through a server started here,
    or, without a file, use the replay server already running at ``api_url``.
    ``source`` ``x_api``: the X API (or ``api_url``) with ``token``.
    """
    broker.ensure_topic(bootstrap, topic, partitions)  # fails fast and clearly when Kafka is down
    kafka = broker.producer(bootstrap)
    server = None
    if source == "replay" and replay_file is not None:
        from mqttids.xapi import replay as x_replay

        token = secrets.token_urlsafe(16)
        state = x_replay.ReplayState(x_replay.read_tweets(replay_file), token=token, rate=rate, keepalive=0.5)
        server = x_replay.ReplayServer(state).start()
        api_url = server.url
    if not token:
        kafka.close(timeout=5)
        raise ProducerFailed("no X bearer token: set the x_api connection's password or X_BEARER_TOKEN")
    replay_url = api_url if source == "replay" else None
    client = TweetPublisher(
        token, api_url=api_url or X_API, run_id=run_id, attempt=attempt, topic=topic, kafka=kafka
    )
    try:
        rules = sync_rules(client, spec)
        started = time.monotonic()
        reason = stream(client, duration=duration, backoff=backoff or Backoff(), replay_url=replay_url)
        send_end_markers(kafka, topic, run_id, attempt, client.published)
        kafka.flush(timeout=60)
        if client.send_error is not None:
            raise ProducerFailed(f"publishing to Kafka failed: {client.send_error}")
        log.info(
            "stopped (%s) after %.1f s: %d tweets published to %s",
            reason,
            time.monotonic() - started,
            client.published,
            topic,
        )
        return ProduceResult(client.published, rules, reason)
    except (tweepy.TweepyException, requests.RequestException) as err:
        raise ProducerFailed(f"X API request failed: {err}") from err
    finally:
        kafka.close(timeout=10)
        if server is not None:
            server.stop()
