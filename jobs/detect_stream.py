"""Live detection (issue 11): packets through Kafka, scored as they arrive, alerts stored once.

    python jobs/detect_stream.py produce --capture capture.pcap --rate 1000
    python jobs/detect_stream.py produce --interface eth0 --duration 60
    python jobs/detect_stream.py consume --duration 3600
    python jobs/detect_stream.py consume --until-end capture.pcap --duration 120

produce publishes packets to the packet topic: a capture (or raw per-class CSV) replayed at a
given rate (--loops repeats it with the connections renumbered), or what tshark sees on a
network interface; an end marker closes the capture. consume scores every packet with the
champions of the packet and packet_context levels (run in process, no Spark), keeps each
connection's state, and stores each connection's first alert per attack class in
mqtt.detections with the offsets and state, then publishes it to the alerts topic.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from mlflow.exceptions import MlflowException

from mqttids.capture import tshark
from mqttids.detection import champions, consumer, inputs, producer
from mqttids.detection.local_model import UnsupportedStage
from mqttids.detection.packets import PacketError
from mqttids.runtime import broker, cli, config, db, input_paths, tracking_server
from mqttids.warehouse import revision


def _positive(kind):
    def convert(text: str):
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"{text!r}: must not be negative")
        return value

    return convert


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = cli.parser("python jobs/detect_stream.py", __doc__, "Kafka: KAFKA_BOOTSTRAP_SERVERS, else embedded.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--bootstrap", default=None, help="Kafka host:port,... (default: KAFKA_BOOTSTRAP_SERVERS)"
    )
    common.add_argument(
        "--topic", default=config.DETECT_TOPIC.get(), help="packet topic (default: %(default)s)"
    )
    common.add_argument(
        "--partitions", type=int, default=int(config.DETECT_PARTITIONS.get()), help="when creating the topic"
    )
    sub = p.add_subparsers(dest="step", required=True)
    produce = sub.add_parser("produce", parents=[common], help="a capture or an interface -> Kafka")
    source = produce.add_mutually_exclusive_group(required=True)
    source.add_argument("--capture", help="a PCAP/PCAPNG capture or raw per-class CSV to replay")
    source.add_argument("--interface", help="a network interface tshark captures on (needs capture rights)")
    produce.add_argument("--name", default=None, help="the capture name of the messages (default: the file)")
    produce.add_argument(
        "--rate", type=_positive(float), default=0.0, help="packets per second (0: flat out)"
    )
    produce.add_argument("--loops", type=_positive(int), default=1, help="replay the capture this many times")
    produce.add_argument(
        "--duration", type=_positive(float), default=0.0, help="interface: seconds (0: until ^C)"
    )
    produce.add_argument(
        "--mqtt-ports", default="", help="broker ports tshark decodes as MQTT, e.g. 1883,8883"
    )
    consume = sub.add_parser("consume", parents=[common], help="Kafka -> scores -> alerts")
    consume.add_argument("--alerts-topic", default=config.ALERTS_TOPIC.get(), help="(default: %(default)s)")
    consume.add_argument("--duration", type=_positive(float), required=True, help="seconds to run at most")
    consume.add_argument(
        "--until-end", default=None, metavar="CAPTURE", help="stop at this capture's end markers"
    )
    consume.add_argument("--consumer", default=consumer.CONSUMER_NAME, help="names its offsets and state")
    consume.add_argument("--batch-size", type=int, default=2000, help="records scored per poll at most")
    cli.add_db(consume)
    return p.parse_args(argv)


def _produce(args: argparse.Namespace, bootstrap: str) -> None:
    ports = [int(x) for x in args.mqtt_ports.split(",") if x.strip()]
    if args.capture:
        path = Path(input_paths.check(args.capture, "--capture")).resolve()
        source = producer.replay_packets(path, inputs.ports(path, ports), args.loops)
        name = args.name or str(path)
    else:
        source = producer.from_interface(args.interface, sorted({*ports, 1883}), args.duration)
        name = args.name or f"interface:{args.interface}"
    done = producer.publish(bootstrap, args.topic, args.partitions, name, source, args.rate)
    print(f"published {done.published:,} packets of {name} in {done.seconds:.1f} s ({done.rate:,.0f}/s)")


def _consume(args: argparse.Namespace, bootstrap: str) -> None:
    broker.ensure_topic(bootstrap, args.topic, args.partitions)  # a broker that is down fails first
    url = db.resolve_url(args.db_url)
    revision.require_head(url)
    client = tracking_server.connect()
    with tempfile.TemporaryDirectory(prefix="mqttids-live-") as tmp:
        scoring = consumer.scorers(client, Path(tmp))
    conn = db.connect(url, application="mqttids-detect-live")
    try:
        result = consumer.consume(
            conn=conn,
            bootstrap=bootstrap,
            topic=args.topic,
            alerts_topic=args.alerts_topic,
            partitions=args.partitions,
            scoring=scoring,
            duration=args.duration,
            until_end_of=args.until_end,
            consumer=args.consumer,
            batch_size=args.batch_size,
        )
    finally:
        conn.close()
    print(
        f"scored {result.packets:,} packets and {result.windows:,} connection windows in "
        f"{result.batches:,} batches, {result.alerts:,} new alerts"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cli.setup_logging()
    try:
        bootstrap = broker.resolve_bootstrap(args.bootstrap)
        _produce(args, bootstrap) if args.step == "produce" else _consume(args, bootstrap)
    except (
        broker.BrokerUnreachable,
        consumer.ConsumerIncomplete,
        champions.NoChampion,
        UnsupportedStage,
        inputs.InputError,
        PacketError,
        input_paths.InputNotAllowed,
        tshark.TsharkMissing,
        tshark.ConversionError,
        db.DatabaseUnreachable,
        revision.WarehouseOutdated,
        tracking_server.TrackingUnavailable,
    ) as err:
        print(f"detect_stream {args.step} failed: {err}", file=sys.stderr)
        return 1
    except MlflowException as err:
        print(f"detect_stream {args.step} failed: MLflow: {err.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
