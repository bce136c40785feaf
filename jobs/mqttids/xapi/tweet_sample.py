"""The recorded tweet sample: hand-written posts about MQTT attacks, near-misses and other languages.

The X API cannot be reached from here, so the replay file the platform ships
(``sample_tweets.jsonl``) is written from the posts below: English posts
naming the six MQTTset classes (as words, in hashtags, repeated, in capitals),
near-misses that must not count (``flooding``, ``#floodwatch``, ``brute
force``, ``DDoS``, ``DOSBox``, ``legitimately``, plurals), and Spanish and
Portuguese posts where ``dos`` means "two" or "of the", some of which name
another term. Each post appears a few times, as posts do, with a neutral
suffix, a new id, author and time; the times span five minutes.

    python -m mqttids.xapi.tweet_sample --out jobs/mqttids/xapi/sample_tweets.jsonl
    python -m mqttids.xapi.tweet_sample --out /tmp/10k.jsonl --count 10000   # for bench/stream
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

# (lang, text). Written for this project; none is a real tweet.
POSTS: tuple[tuple[str, str], ...] = (
    ("en", "New MQTT honeypot logs show a SlowITe attack keeping 200 broker connections open."),
    ("en", "SlowITe is nasty: it abuses keep-alive to starve the broker. Patch your timeouts!"),
    ("en", "Saw a #slowite pattern again on our Mosquitto test rig this morning"),
    ("en", "The Slowite paper is a good read if you run Mosquitto in production"),
    ("en", "slowite, slowloris, same idea: hold the socket, send nothing useful"),
    ("en", "Our IDS flagged a bruteforce on the MQTT CONNECT password today."),
    ("en", "Bruteforce attempts against port 1883 doubled this week"),
    ("en", "Rate-limit CONNECT packets or a #bruteforce will eventually find that weak password."),
    ("en", "BRUTEFORCE alerts all night. Who left anonymous auth on?"),
    ("en", "MQTT publish flood took down the dashboard for ten minutes"),
    ("en", "Is a SUBSCRIBE flood worse than a PUBLISH flood? Asking for a broker."),
    ("en", "#flood of retained messages after the firmware update, no idea why"),
    ("en", "Flood, flood, flood: the topic tree exploded overnight."),
    ("en", "FLOOD WARNING for the MQTT cluster, all hands on deck"),
    ("en", "Malformed CONNECT packets crash older brokers; fuzzing finds them fast."),
    ("en", "The parser choked on a malformed remaining-length field. Classic."),
    ("en", "#malformed payloads in the MQTTset data are easy to spot"),
    ("en", "Fuzzer output: 3 malformed headers, 1 malformed topic filter, 0 crashes"),
    ("en", "A DoS on the broker is cheap when clients never time out."),
    ("en", "DoS-attack simulation done: the broker survived 50k msgs/s."),
    ("en", "MQTT DoS research keeps growing, great survey out today #dos"),
    ("en", "Classic DoS vs DDoS on IoT brokers, a thread"),
    ("en", "Remember MS-DOS? This broker runs on hardware almost that old."),
    ("en", "Legitimate traffic is still 60% of the dataset, which surprised me."),
    ("en", "How do you tell legitimate clients from attackers with the same packet sizes?"),
    ("en", "Only #legitimate sensors should be allowed to publish to the plant topics"),
    ("en", "Dataset labels: legitimate, dos, bruteforce, malformed, slowite, flood."),
    ("en", "A flood looks legitimate until you count the messages per second."),
    ("en", "Bruteforce then DoS: attackers chain them on weak IoT brokers."),
    ("en", "malformed packet + flood = very sad broker"),
    ("en", "Training a classifier on MQTTset: flood is easy, slowite is hard, legitimate is most of it"),
    ("en", "#DoS #flood #bruteforce all in one capture file, lovely"),
    ("en", "The DOS class in MQTTset has the longest TCP payloads by far"),
    ("en", "Legitimate or malformed? The decision tree says 0.85 accuracy."),
    # near-misses in English: none of these is a whole-word mention of a term
    ("en", "Flooding in the valley closed the road to the data center"),
    ("en", "New floodlights at the stadium run on MQTT-controlled relays"),
    ("en", "#floodwatch issued for the county until 6 pm"),
    ("en", "Brute force is not a debugging strategy, said my mentor"),
    ("en", "The bruteforcer script from that repo is a mess"),
    ("en", "Doses of coffee required for this MQTT debugging session"),
    ("en", "DOSBox still runs my old games perfectly"),
    ("en", "Legitimately impressed by this broker's throughput"),
    ("en", "Illegitimate certificate warnings everywhere today"),
    ("en", "Malformation of the schema design is the real bug here"),
    ("en", "The MQTT broker handled everything fine today, no alerts"),
    ("en", "Kafka vs MQTT for sensor data, thoughts?"),
    ("en", "Floods of emails after the outage, nobody reads them"),
    ("en", "Bruteforces logged this month: twelve, all from the same subnet"),
    ("en", "#DDoS mitigation for IoT is mostly about rate limits"),
    ("en", "slowitedown is not a word, but it should be"),
    ("en", "Keep-alive of 60 s is fine for most sensors"),
    ("en", "QoS 2 on battery devices is a bad idea"),
    ("en", "Retained messages are underrated for config distribution"),
    ("en", "Who else runs Mosquitto on a Raspberry Pi at home?"),
    ("en", "TLS on port 8883 should be the default, change my mind"),
    # Spanish and Portuguese: dos = two / of the
    ("es", "Tengo dos sensores MQTT en casa y los dos fallan con el wifi"),
    ("es", "Dos ataques DoS en una semana contra el broker de la fábrica"),
    ("es", "Inundación (flood) en el centro de datos: dos servidores caídos"),
    ("es", "Un ataque #bruteforce probó dos mil contraseñas en una hora"),
    ("es", "Tráfico legitimate y malformed en el dataset, dos clases muy distintas"),
    ("es", "Las dos primeras horas del taller de IoT fueron excelentes"),
    ("es", "Dos brokers, un clúster, cero problemas"),
    ("pt", "A maioria dos dispositivos usa MQTT sem TLS"),
    ("pt", "Ataque de flood nos brokers dos clientes ontem à noite"),
    ("pt", "Os dados dos sensores chegam a cada dois segundos"),
    ("pt", "Análise dos pacotes malformed do MQTTset: quase todos no cabeçalho"),
    ("pt", "O tráfego dos dispositivos legítimos é a maior parte"),
    ("pt", "Conferência dos desenvolvedores IoT em Lisboa, quem vai?"),
    ("und", "#DoS"),
)
SUFFIXES = ("", " #iot", " #mqtt", " #infosec", " 🚨", " (via @iotsec_news)")
START = datetime(2026, 11, 20, 14, 0, 0, tzinfo=UTC)


def build(count: int, seed: int = 0, span_seconds: float = 300.0) -> list[dict]:
    """``count`` tweets cycling through the posts (shuffled per cycle), times spread over ``span_seconds``."""
    rng = random.Random(seed)
    order: list[int] = []
    tweets = []
    for i in range(count):
        if not order:
            order = list(range(len(POSTS)))
            rng.shuffle(order)
        lang, text = POSTS[order.pop()]
        created = START + timedelta(seconds=span_seconds * i / max(count, 1))
        tweets.append(
            {
                "id": str(1_862_000_000_000_000_000 + i * 7919 + rng.randrange(7919)),
                "text": text + rng.choice(SUFFIXES),
                "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{created.microsecond // 1000:03d}Z",
                "author_id": str(rng.randrange(10**8, 10**10)),
                "lang": lang,
            }
        )
    return tweets


def write(path: Path, tweets: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for tweet in tweets:
            out.write(json.dumps(tweet, ensure_ascii=False) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mqttids.xapi.tweet_sample", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="replay file to write (JSON lines)")
    parser.add_argument("--count", type=int, default=300, help="tweets to write (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    parser.add_argument(
        "--span", type=float, default=300.0, help="seconds the created_at times span (default 300)"
    )
    args = parser.parse_args(argv)
    write(args.out, build(args.count, args.seed, args.span))
    print(f"{args.count} tweets written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
