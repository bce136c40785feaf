"""A small corpus of genuine MQTT traffic, one capture per MQTTset behaviour and split.

No capture ships with the project, yet the capture path must be tested on real protocol bytes.
So this module starts its own Mosquitto broker (on a free loopback port, with a password file so
that wrong passwords are refused), captures that port on the loopback interface with dumpcap, and
runs real clients (paho-mqtt, and raw sockets for the malformed packets) for each behaviour:
``<label>-<split>.pcap`` in one directory, plus ``corpus.json`` naming the broker port, which
tshark must be told to decode as MQTT. Every loop is bounded; the whole corpus takes seconds.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

HOST = "127.0.0.1"
USER = "sensor"
PASSWORD = "corpus-secret"
LABELS = ("legitimate", "flood", "dos", "bruteforce", "slowite", "malformed")
SPLITS = ("train", "test")
MANIFEST = "corpus.json"
TIMEOUT = 10.0  # seconds any single wait may take before the build fails
SETTLE = 0.3  # seconds for the last FIN/ACK packets to reach the capture
SBIN = ("/usr/sbin", "/usr/local/sbin")  # Debian puts mosquitto here, off a normal user's PATH


@dataclass(frozen=True)
class CaptureFile:
    """One capture of the corpus and the TCP connections its clients opened."""

    label: str
    split: str
    path: str
    connections: int


@dataclass(frozen=True)
class Corpus:
    """The corpus directory, the broker port its captures use, and its files."""

    directory: str
    mqtt_port: int
    files: tuple[CaptureFile, ...]


def build(directory: str | Path, labels: tuple[str, ...] = LABELS, interface: str = "lo") -> Corpus:
    """Capture every behaviour of ``labels`` once per split into ``directory``; write the manifest."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    files = []
    with _broker() as port:
        for label in labels:
            for split in SPLITS:
                path = target / f"{label}-{split}.pcap"
                rng = random.Random(f"{label}-{split}")
                with _capturing(path, port, interface):
                    connections = BEHAVIOURS[label](port, split, rng)
                path.chmod(0o644)  # dumpcap writes 0600; other users and Spark workers read them
                files.append(CaptureFile(label, split, str(path), connections))
    corpus = Corpus(str(target), port, tuple(files))
    (target / MANIFEST).write_text(json.dumps(asdict(corpus), indent=2) + "\n")
    return corpus


def _program(name: str) -> str:
    """The path of a system program, or a message saying which package provides it."""
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *SBIN]))
    if found is None:
        raise FileNotFoundError(
            f"{name} was not found: install it (Debian/Ubuntu: scripts/system-deps-capture.sh, or "
            "'apt-get install mosquitto tshark'; macOS: 'brew install mosquitto wireshark')"
        )
    return found


def _free_port() -> int:
    """A TCP port nothing listens on now, so the machine's own broker is never touched."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextmanager
def _broker() -> Iterator[int]:
    """A private Mosquitto that refuses anonymous clients and wrong passwords; yields its port."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="mqttids-broker-") as work:
        os.chmod(work, 0o755)  # mosquitto started as root reads its files as the mosquitto user
        passwd, conf = Path(work, "passwd"), Path(work, "mosquitto.conf")
        subprocess.run([_program("mosquitto_passwd"), "-b", "-c", str(passwd), USER, PASSWORD], check=True)
        passwd.chmod(0o644)
        conf.write_text(
            f"listener {port} {HOST}\nallow_anonymous false\npassword_file {passwd}\npersistence false\n"
        )
        with open(Path(work, "broker.log"), "wb") as log:
            broker = subprocess.Popen([_program("mosquitto"), "-c", str(conf)], stdout=log, stderr=log)
            try:
                _wait_for(lambda: _listening(port) or broker.poll() is not None, "the broker to listen")
                if broker.poll() is not None:
                    raise RuntimeError(f"mosquitto exited: {Path(work, 'broker.log').read_text()}")
                yield port
            finally:
                broker.terminate()
                broker.wait(TIMEOUT)


def _listening(port: int) -> bool:
    """Whether a TCP connect to the port succeeds (done before any capture starts)."""
    with socket.socket() as probe:
        return probe.connect_ex((HOST, port)) == 0


@contextmanager
def _capturing(path: Path, port: int, interface: str) -> Iterator[None]:
    """dumpcap writing the broker port's loopback traffic to ``path`` (pcap format) meanwhile."""
    path.unlink(missing_ok=True)
    command = [_program("dumpcap"), "-q", "-P", "-i", interface, "-f", f"tcp port {port}", "-w", str(path)]
    dumpcap = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # dumpcap writes the file header once the interface is open, so traffic from now on is kept.
        _wait_for(lambda: _has_header(path) or dumpcap.poll() is not None, "dumpcap to start")
        if dumpcap.poll() is not None:
            raise RuntimeError(f"dumpcap failed: {dumpcap.stderr.read().decode(errors='replace')}")
        yield
        time.sleep(SETTLE)
    finally:
        dumpcap.terminate()
        dumpcap.communicate(timeout=TIMEOUT)


def _has_header(path: Path) -> bool:
    return path.exists() and path.stat().st_size >= 24


def _wait_for(done: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``done`` until it is true; a bounded wait, never a hang."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.01)


# --- paho-mqtt clients, driven synchronously with bounded loops -----------------------------------


def _connect(port: int, name: str, password: str = PASSWORD, keepalive: int = 60) -> mqtt.Client:
    """A connected paho client (MQTT 3.1.1, as in MQTTset); ``user_data_get()["connack"]`` is the answer."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv311)
    client.username_pw_set(USER, password)
    client.user_data_set({"connack": None, "received": 0})
    client.on_connect = lambda c, data, _flags, code, _props: data.update(connack=code)
    client.on_message = lambda c, data, _msg: data.update(received=data["received"] + 1)
    client.connect(HOST, port, keepalive)
    _pump(client, lambda: client.user_data_get()["connack"] is not None, "a CONNACK")
    return client


def _pump(client: mqtt.Client, done: Callable[[], bool], what: str) -> None:
    """Run the client's network loop until ``done``, for at most TIMEOUT seconds."""
    deadline = time.monotonic() + TIMEOUT
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        client.loop(0.01)


def _idle(client: mqtt.Client, seconds: float) -> None:
    """Keep the session alive (PINGREQ when due) without sending anything else."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        client.loop(0.05)


def _publish(client: mqtt.Client, topic: str, payload: bytes | str, qos: int = 0) -> None:
    info = client.publish(topic, payload, qos)
    _pump(client, info.is_published, f"PUBLISH to {topic} to complete")


def _close(client: mqtt.Client) -> None:
    """DISCONNECT and wait for the socket to close."""
    client.disconnect()
    _pump(client, lambda: not client.is_connected(), "DISCONNECT")


# --- the six behaviours: each returns the number of TCP connections it opened ---------------------


READING_QOS = (0, 1, 2, 1)  # one sensor's readings, each echoed back by its own subscription


def legitimate(port: int, split: str, rng: random.Random) -> int:
    """Sensors that subscribe to their topics and publish readings at QoS 0, 1 and 2.

    The last sensor has a one-second keep-alive and idles past it, so PINGREQ/PINGRESP occur too.
    """
    sensors = 5
    for number in range(sensors):
        name = f"{split}-sensor-{number}"
        keepalive = 1 if number == sensors - 1 else 60
        client = _connect(port, name, keepalive=keepalive)
        client.subscribe(f"site/{name}/#", qos=1)
        for qos in READING_QOS:
            _publish(client, f"site/{name}/temperature", f"{rng.uniform(18, 26):.1f}", qos)
        _pump(client, lambda c=client: c.user_data_get()["received"] >= len(READING_QOS), "echoes")
        if keepalive == 1:
            _idle(client, 1.6)
        client.unsubscribe(f"site/{name}/#")
        _close(client)
    return sensors


def flood(port: int, split: str, rng: random.Random) -> int:
    """A few clients each publishing large payloads (8 to 32 KiB) back to back."""
    clients = 3
    for number in range(clients):
        client = _connect(port, f"{split}-flooder-{number}")
        for _ in range(15):
            payload = bytes([rng.randrange(0x30, 0x7A)]) * rng.randrange(8192, 32768)
            _publish(client, "flood/data", payload, qos=0)
        _close(client)
    return clients


def dos(port: int, split: str, rng: random.Random) -> int:
    """Many clients connected at the same time, each publishing a few messages, then all leaving."""
    clients = [_connect(port, f"{split}-bot-{number}") for number in range(40)]
    for client in clients:
        for _ in range(rng.randrange(1, 4)):
            _publish(client, "dos/target", "x" * rng.randrange(1, 64), qos=1)
    for client in clients:
        _close(client)
    return len(clients)


def bruteforce(port: int, split: str, rng: random.Random) -> int:
    """CONNECTs with wrong passwords, one connection each, all refused by the broker."""
    attempts = 25
    for number in range(attempts):
        guess = f"{rng.choice(['admin', 'password', '123456', 'mqtt', 'letmein'])}{number}"
        client = _connect(port, f"{split}-guess-{number}", password=guess)
        if not client.user_data_get()["connack"].is_failure:
            raise RuntimeError("the broker accepted a wrong password")
        _pump(client, lambda c=client: not c.is_connected(), "the broker to close a refused client")
    return attempts


def slowite(port: int, split: str, rng: random.Random) -> int:
    """Many connections with the longest keep-alive (65535 s), held idle, then dropped."""
    clients = [_connect(port, f"{split}-slow-{number}", keepalive=65535) for number in range(20)]
    time.sleep(1.0 + rng.random() / 2)
    for client in clients:
        client.socket().close()  # the attacker vanishes: no DISCONNECT, as when a SlowITe peer dies
    return len(clients)


def malformed(port: int, split: str, rng: random.Random) -> int:
    """Raw bytes with broken lengths and flags, one connection per broken packet, twice over.

    All connections are open at once, so packets the broker waits on (a length that claims more
    bytes than follow) cost one shared half second, not one each.
    """
    broken = _broken_packets(rng) * 2
    connections = [socket.create_connection((HOST, port), timeout=TIMEOUT) for _ in broken]
    for raw, packet in zip(connections, broken, strict=True):
        raw.sendall(packet)
    deadline = time.monotonic() + 0.5
    for raw in connections:
        with raw:
            _drain(raw, deadline)
    return len(connections)


def _broken_packets(rng: random.Random) -> list[bytes]:
    """MQTT packets a broker must refuse: each after a valid CONNECT where the packet needs one."""
    login = _connect_packet()
    topic = b"\x00\x05a/bad"
    body = bytes(rng.randrange(256) for _ in range(12))
    return [
        login + b"\x30\x7f" + topic + body,  # PUBLISH whose remaining length claims more than is sent
        login + b"\x36" + bytes([len(topic) + 2 + len(body)]) + topic + b"\x00\x01" + body,  # QoS 3
        login + b"\x80\x0a\x00\x01" + topic + b"\x00",  # SUBSCRIBE with reserved flags 0000, not 0010
        login + b"\x30\xff\xff\xff\xff\x7f" + topic,  # a five-byte remaining length (four at most)
        _connect_packet(conflags=0xC3),  # CONNECT with the reserved flag bit set
        _connect_packet(proto_len=6),  # CONNECT whose protocol-name length is wrong
        login + b"\xf0\x00",  # reserved packet type 15
        b"\x10\x02\x00",  # CONNECT cut after its remaining length
    ]


def _connect_packet(conflags: int = 0xC2, proto_len: int = 4) -> bytes:
    """A CONNECT (MQTT 3.1.1, user name and password) with the given flags and name length."""
    fields = b"".join(
        len(text).to_bytes(2, "big") + text for text in (b"raw", USER.encode(), PASSWORD.encode())
    )
    variable = proto_len.to_bytes(2, "big") + b"MQTT" + bytes([4, conflags]) + (60).to_bytes(2, "big")
    remaining = variable + fields
    return b"\x10" + bytes([len(remaining)]) + remaining


def _drain(raw: socket.socket, deadline: float) -> None:
    """Read what the broker answers until it closes the connection or the deadline passes."""
    try:
        while (left := deadline - time.monotonic()) > 0:
            raw.settimeout(left)
            if not raw.recv(4096):
                return
    except (TimeoutError, ConnectionResetError):
        return


BEHAVIOURS: dict[str, Callable[[int, str, random.Random], int]] = {
    "legitimate": legitimate,
    "flood": flood,
    "dos": dos,
    "bruteforce": bruteforce,
    "slowite": slowite,
    "malformed": malformed,
}
