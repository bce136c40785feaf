"""Tweet stream (Task II-4): X keyword stream -> Kafka -> per-term counts in PostgreSQL -> bar chart.

Three steps, each its own process (the DAG mqtt_tweet_stream runs them as tasks):

    python jobs/tweet_stream.py produce --run-id r1 --source replay --duration 60
    python jobs/tweet_stream.py consume --run-id r1 --duration 120
    python jobs/tweet_stream.py chart   --run-id r1 --out data/stream/r1.png

produce syncs one X rule per term and publishes matching tweets to Kafka until
the duration is up (or the replay file is exhausted); consume counts them per
term and window into mqtt.tweet_term_counts until it has read the run's end
markers; chart prints the run's totals and draws them. Producer and consumer
may run at the same time or one after the other.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from mqttids.runtime import broker, config, db
from mqttids.stream import tables as stream_tables
from mqttids.stream.terms import TermSpec, parse_terms
from mqttids.warehouse import revision

log = logging.getLogger("tweet_stream")

DEFAULT_REPLAY = Path(__file__).resolve().parent / "mqttids" / "xapi" / "sample_tweets.jsonl"
SOURCES = ("replay", "x_api")


def _terms(text: str) -> tuple[str, ...]:
    try:
        return parse_terms(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _positive(kind):
    def convert(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r}: must be positive")
        return value

    return convert


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python jobs/tweet_stream.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Kafka: KAFKA_BOOTSTRAP_SERVERS, else the embedded broker. PostgreSQL: MQTTIDS_DB_URL,\n"
        "else the embedded server. X bearer token (source x_api): X_BEARER_TOKEN.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--run-id", required=True, help="names the run's rows; rerunning an id replaces them")
    common.add_argument(
        "--db-url", default=None, help="postgresql://... (default: MQTTIDS_DB_URL, else embedded)"
    )
    common.add_argument(
        "--bootstrap", default=None, help="Kafka host:port,... (default: KAFKA_BOOTSTRAP_SERVERS)"
    )
    common.add_argument(
        "--topic", default=config.STREAM_TOPIC.get(), help="Kafka topic (default: %(default)s)"
    )
    sub = parser.add_subparsers(dest="step", required=True)

    produce = sub.add_parser("produce", parents=[common], help="X stream (or replay) -> Kafka")
    produce.add_argument("--source", choices=SOURCES, default="replay", help="where tweets come from")
    produce.add_argument(
        "--replay-file",
        type=Path,
        default=None,
        help=f"replay file (default: the shipped {DEFAULT_REPLAY.name})",
    )
    produce.add_argument(
        "--replay-url", default="", help="use a replay server already running there instead of --replay-file"
    )
    produce.add_argument("--terms", type=_terms, default=config.STREAM_TERMS.get(), help="comma-separated")
    produce.add_argument("--plurals", action="store_true", help="count regular plurals (term + s) too")
    produce.add_argument(
        "--english-only",
        type=lambda text: frozenset(_terms(text)) if text.strip() else frozenset(),
        default=config.STREAM_ENGLISH_ONLY.get(),
        help="terms matched with lang:en and counted in English tweets only (default: %(default)s)",
    )
    produce.add_argument(
        "--window", type=_positive(int), default=60, help="count window in seconds (default 60)"
    )
    produce.add_argument("--duration", type=_positive(float), default=300, help="seconds to stream at most")
    produce.add_argument("--rate", type=float, default=float(config.REPLAY_RATE.get()), help="replay lines/s")
    produce.add_argument(
        "--backoff-scale",
        type=_positive(float),
        default=1.0,
        help="shrink the X reconnect waits (tests only)",
    )

    consume = sub.add_parser("consume", parents=[common], help="Kafka -> mqtt.tweet_term_counts")
    consume.add_argument(
        "--duration", type=_positive(float), default=360, help="fail after this many seconds"
    )

    chart = sub.add_parser("chart", parents=[common], help="print the run's totals and draw its bar chart")
    chart.add_argument("--out", type=Path, required=True, help="PNG to write")
    return parser.parse_args(argv)  # argparse converts the string defaults with their types too


def run_produce(args: argparse.Namespace, url: str) -> None:
    from mqttids.stream import tweet_producer

    spec = TermSpec(args.terms, args.plurals, args.english_only & frozenset(args.terms))
    bootstrap = broker.resolve_bootstrap(args.bootstrap)
    replay_file = None
    if args.source == "replay" and not args.replay_url:
        replay_file = args.replay_file or DEFAULT_REPLAY
        if not replay_file.is_file():
            raise tweet_producer.ProducerFailed(f"replay file not found: {replay_file}")
    partitions = int(config.STREAM_PARTITIONS.get())
    broker.ensure_topic(bootstrap, args.topic, partitions)  # a broker that is down fails before anything else
    conn = db.connect(url, application="mqttids-stream-producer")
    try:
        attempt = stream_tables.register_run(conn, args.run_id, spec, args.window, args.source)
        result = tweet_producer.produce(
            run_id=args.run_id,
            attempt=attempt,
            spec=spec,
            bootstrap=bootstrap,
            topic=args.topic,
            partitions=partitions,
            duration=args.duration,
            source=args.source,
            token=os.environ.get("X_BEARER_TOKEN", ""),
            api_url=args.replay_url or config.X_API_URL.get(),
            replay_file=replay_file,
            rate=args.rate,
            backoff=tweet_producer.Backoff(scale=args.backoff_scale),
        )
        stream_tables.finish_run(conn, args.run_id, result.published)
    finally:
        conn.close()
    print(f"published {result.published} tweets ({result.stop_reason}; {result.rules})")


def run_consume(args: argparse.Namespace, url: str) -> None:
    from mqttids.stream import tweet_consumer

    conn = db.connect(url, application="mqttids-stream-consumer")
    try:
        result = tweet_consumer.consume(
            run_id=args.run_id,
            conn=conn,
            bootstrap=broker.resolve_bootstrap(args.bootstrap),
            topic=args.topic,
            partitions=int(config.STREAM_PARTITIONS.get()),
            duration=args.duration,
        )
    finally:
        conn.close()
    print(f"consumed {result.messages} messages, {result.new_tweets} new tweets stored")


def run_chart(args: argparse.Namespace, url: str) -> None:
    from mqttids.stream.chart import format_totals, write_chart

    conn = db.connect(url, application="mqttids-stream-chart")
    try:
        totals = stream_tables.run_totals(conn, args.run_id)
    finally:
        conn.close()
    if not totals:
        raise LookupError(f"no tweet stream run {args.run_id!r} in mqtt.tweet_stream_runs")
    write_chart(totals, args.out, f"Mentions per term, run {args.run_id}")
    print(format_totals(args.run_id, totals))
    print(f"chart: {args.out}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    from mqttids.stream import tweet_consumer, tweet_producer

    steps = {"produce": run_produce, "consume": run_consume, "chart": run_chart}
    try:
        url = db.resolve_url(args.db_url)
        revision.require_head(url)
        steps[args.step](args, url)
    except (
        broker.BrokerUnreachable,
        db.DatabaseUnreachable,
        revision.WarehouseOutdated,
        tweet_producer.ProducerFailed,
        tweet_consumer.ConsumerIncomplete,
        LookupError,
    ) as err:
        log.error("%s", err)
        print(f"tweet_stream {args.step} failed: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
