"""A local stand-in for the X API v2 filtered stream that replays a recorded file of tweets.

The X API cannot be reached here, and people without a paid X account need the
platform too, so the producer's real ``tweepy.StreamingClient`` talks to this
server over HTTP instead, unchanged. It speaks the parts of the protocol the
client uses:

* ``GET /2/tweets/search/stream/rules`` and ``POST`` with ``add`` or
  ``delete`` (and ``dry_run``): X's JSON bodies, rule ids, tags, duplicate and
  invalid-rule errors;
* ``GET /2/tweets/search/stream``: a chunked response of newline-delimited
  JSON ``{"data": ..., "matching_rules": [...]}`` objects, with only the
  ``tweet.fields`` asked for, a keep-alive newline after every quiet
  ``keepalive`` seconds, and ``429 TooManyConnections`` for a second connection;
* bearer-token authentication (401 without it).

Each line of the file (JSON with ``id``, ``text``, ``created_at``,
``author_id``, ``lang``) is read at ``rate`` lines per second, evaluated
against the registered rules as X would (:mod:`mqttids.xapi.rules`), and sent
once if it matches. A reconnecting client resumes after the last line sent, so
every matching line reaches it exactly once per server. ``GET /replay/status``
(not part of X's API) says when the file is exhausted, which is how a replay
run knows it is over. For tests, ``fail`` answers the first stream connections
with the given HTTP statuses, and ``disconnect_after`` drops the first
connection after that many tweets.

    python -m mqttids.xapi.replay --file tweets.jsonl --port 8099 --token secret
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from mqttids.xapi.rules import Post, RuleSyntaxError, compile_rule

log = logging.getLogger(__name__)

RULES_PATH = "/2/tweets/search/stream/rules"
STREAM_PATH = "/2/tweets/search/stream"
STATUS_PATH = "/replay/status"
DEFAULT_FIELDS = ("id", "text", "edit_history_tweet_ids")
ERRORS = {
    401: {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
    404: {"title": "Not Found Error", "type": "about:blank", "status": 404, "detail": "Not found"},
    429: {
        "title": "ConnectionException",
        "detail": "This stream is currently at the maximum allowed connection limit.",
        "connection_issue": "TooManyConnections",
        "type": "https://api.twitter.com/2/problems/streaming-connection",
    },
    503: {
        "title": "Service Unavailable",
        "type": "about:blank",
        "status": 503,
        "detail": "Service Unavailable",
    },
}


def read_tweets(path: Path) -> list[dict]:
    """The replay file's tweets, checked for the fields the protocol needs."""
    tweets = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            tweet = json.loads(line)
            missing = {"id", "text", "created_at", "author_id", "lang"} - tweet.keys()
            if missing:
                raise ValueError(f"{path}:{number}: missing {', '.join(sorted(missing))}")
            tweets.append(tweet)
    return tweets


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ReplayState:
    """Rules, the replay cursor and the fault plan, shared by the request threads."""

    def __init__(
        self,
        tweets: list[dict],
        *,
        token: str,
        rate: float,
        keepalive: float,
        fail: Iterable[int] = (),
        disconnect_after: int = 0,
    ) -> None:
        self.tweets = tweets
        self.token = token
        self.rate = rate
        self.keepalive = keepalive
        self.fail = list(fail)
        self.disconnect_after = disconnect_after
        self.rules: dict[str, tuple[str, str | None]] = {}  # id -> (value, tag)
        self.predicates: dict[str, object] = {}
        self.next_rule_id = 1_600_000_000_000_000_000
        self.position = 0  # next file line to evaluate
        self.sent = 0
        self.connections = 0
        self.lock = threading.Lock()
        self.streaming = False

    @property
    def exhausted(self) -> bool:
        return self.position >= len(self.tweets)

    def status(self) -> dict:
        return {
            "lines": len(self.tweets),
            "position": self.position,
            "sent": self.sent,
            "exhausted": self.exhausted,
            "connections": self.connections,
        }

    def matching_rules(self, tweet: dict) -> list[dict]:
        post = Post.of(tweet["text"], tweet.get("lang"))
        with self.lock:
            rules = list(self.predicates.items())
        matches = []
        for rule_id, predicate in rules:
            if predicate(post):
                matches.append({"id": rule_id, "tag": self.rules[rule_id][1] or ""})
        return matches

    # ------------------------------------------------------------------ rules endpoint
    def list_rules(self) -> dict:
        with self.lock:
            data = [self._rule_json(i) for i in self.rules]
        meta = {"sent": _now(), "result_count": len(data)}
        return {"data": data, "meta": meta} if data else {"meta": meta}

    def _rule_json(self, rule_id: str) -> dict:
        value, tag = self.rules[rule_id]
        return {"id": rule_id, "value": value, **({"tag": tag} if tag is not None else {})}

    def add_rules(self, add: list[dict], dry_run: bool) -> tuple[int, dict]:
        errors, compiled = [], []
        for rule in add:
            try:
                compiled.append((rule, compile_rule(rule["value"])))
            except RuleSyntaxError as err:
                errors.append({"value": rule.get("value"), "title": "Invalid Rule", "details": [str(err)]})
        if errors:
            summary = {"created": 0, "not_created": len(add), "valid": len(compiled), "invalid": len(errors)}
            return 400, {"errors": errors, "meta": {"sent": _now(), "summary": summary}}
        created = []
        with self.lock:
            existing = {value: i for i, (value, _) in self.rules.items()}
            for rule, predicate in compiled:
                if rule["value"] in existing:
                    errors.append(
                        {
                            "value": rule["value"],
                            "id": existing[rule["value"]],
                            "title": "DuplicateRule",
                            "type": "https://api.twitter.com/2/problems/duplicate-rules",
                        }
                    )
                    continue
                self.next_rule_id += 1
                rule_id = str(self.next_rule_id)
                if not dry_run:
                    self.rules[rule_id] = (rule["value"], rule.get("tag"))
                    self.predicates[rule_id] = predicate
                    existing[rule["value"]] = rule_id
                created.append(
                    {"value": rule["value"], "id": rule_id, **({"tag": rule["tag"]} if "tag" in rule else {})}
                )
        summary = {"created": len(created), "not_created": len(errors), "valid": len(add), "invalid": 0}
        body: dict = {"meta": {"sent": _now(), "summary": summary}}
        if created:
            body["data"] = created
        if errors:
            body["errors"] = errors
        return 200, body

    def delete_rules(self, ids: list[str], dry_run: bool) -> tuple[int, dict]:
        deleted, errors = 0, []
        with self.lock:
            for rule_id in ids:
                if rule_id not in self.rules:
                    errors.append({"value": rule_id, "title": "Not Found", "detail": "Rule does not exist"})
                    continue
                deleted += 1
                if not dry_run:
                    del self.rules[rule_id], self.predicates[rule_id]
        body: dict = {"meta": {"sent": _now(), "summary": {"deleted": deleted, "not_deleted": len(errors)}}}
        if errors:
            body["errors"] = errors
        return 200, body


class Handler(BaseHTTPRequestHandler):
    """One request: routes to the rules, stream or status endpoint."""

    protocol_version = "HTTP/1.1"
    server: ReplayServer

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    @property
    def state(self) -> ReplayState:
        return self.server.state

    def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.state.token}":
            return True
        self._json(401, ERRORS[401])
        return False

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == STATUS_PATH:
            self._json(200, self.state.status())
        elif not self._authorised():
            return
        elif url.path == RULES_PATH:
            self._json(200, self.state.list_rules())
        elif url.path == STREAM_PATH:
            self._stream(parse_qs(url.query))
        else:
            self._json(404, ERRORS[404])

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if not self._authorised():
            return
        if url.path != RULES_PATH:
            self._json(404, ERRORS[404])
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        dry_run = parse_qs(url.query).get("dry_run", ["false"])[0] == "true"
        if "add" in body:
            self._json(*self.state.add_rules(body["add"], dry_run))
        elif "delete" in body:
            self._json(*self.state.delete_rules([str(i) for i in body["delete"].get("ids", [])], dry_run))
        else:
            self._json(
                400, {"errors": [{"message": "body must have 'add' or 'delete'"}], "title": "Invalid Request"}
            )

    # ------------------------------------------------------------------ stream endpoint
    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, query: dict[str, list[str]]) -> None:
        state = self.state
        with state.lock:
            state.connections += 1
            failure = state.fail.pop(0) if state.fail else None
            busy = state.streaming
            if failure is None and not busy:
                state.streaming = True
        if failure or busy:
            status = failure or 429
            headers = {"x-rate-limit-reset": str(int(time.time()) + 60)} if status == 429 else {}
            self._json(status, ERRORS.get(status, {"title": "Error", "status": status}), headers)
            return
        fields = set(DEFAULT_FIELDS) | {f for v in query.get("tweet.fields", []) for f in v.split(",")}
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._send_tweets(fields)
        except (BrokenPipeError, ConnectionResetError):
            log.info("stream client went away")
        finally:
            with state.lock:
                state.streaming = False

    def _send_tweets(self, fields: set[str]) -> None:
        state = self.state
        started, first = time.monotonic(), state.position
        quiet_since = time.monotonic()
        sent_here = 0
        while not self.server.stopping.is_set():
            if state.exhausted:
                time.sleep(min(state.keepalive, 0.2))
            elif state.rate > 0:
                due = started + (state.position - first) / state.rate
                time.sleep(max(0.0, min(due - time.monotonic(), state.keepalive)))
            if not state.exhausted and (state.rate <= 0 or time.monotonic() >= due):
                tweet = state.tweets[state.position]
                rules = state.matching_rules(tweet)
                if rules:
                    data = {k: v for k, v in tweet.items() if k in fields}
                    data.setdefault("edit_history_tweet_ids", [tweet["id"]])
                    self._chunk(json.dumps({"data": data, "matching_rules": rules}).encode() + b"\r\n")
                    state.sent += 1
                    sent_here += 1
                    quiet_since = time.monotonic()
                state.position += 1
                if state.disconnect_after and sent_here >= state.disconnect_after:
                    state.disconnect_after = 0
                    log.info("dropping the stream after %d tweets (fault injection)", sent_here)
                    break
            if time.monotonic() - quiet_since >= state.keepalive:
                self._chunk(b"\r\n")
                quiet_since = time.monotonic()
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True


class ReplayServer(ThreadingHTTPServer):
    """The HTTP server on a loopback port, run in a daemon thread by :meth:`start`."""

    daemon_threads = True

    def __init__(self, state: ReplayState, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.state = state
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> ReplayServer:
        threading.Thread(target=self.serve_forever, name="x-replay", daemon=True).start()
        log.info(
            "replay server on %s: %d tweets at %s lines/s",
            self.url,
            len(self.state.tweets),
            self.state.rate or "max",
        )
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mqttids.xapi.replay",
        description=__doc__.split("\n\n")[0],
        epilog="Point the producer at it with MQTTIDS_X_API_URL=<printed URL> and X_BEARER_TOKEN=<token>.",
    )
    parser.add_argument("--file", type=Path, required=True, help="replay file, one tweet JSON per line")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--token", required=True, help="the bearer token clients must send")
    parser.add_argument(
        "--rate", type=float, default=50.0, help="file lines per second, 0 = max (default 50)"
    )
    parser.add_argument(
        "--keepalive", type=float, default=1.0, help="seconds of silence before a keep-alive (X: 20)"
    )
    parser.add_argument(
        "--fail", default="", help="HTTP statuses for the first stream connections, e.g. 503,429"
    )
    parser.add_argument(
        "--disconnect-after", type=int, default=0, help="drop the first stream after N tweets"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    state = ReplayState(
        read_tweets(args.file),
        token=args.token,
        rate=args.rate,
        keepalive=args.keepalive,
        fail=[int(s) for s in args.fail.split(",") if s],
        disconnect_after=args.disconnect_after,
    )
    server = ReplayServer(state, args.port)
    print(server.url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
