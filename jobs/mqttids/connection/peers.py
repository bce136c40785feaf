"""A packet's peers: the traffic of its capture around it, as a live sniffer would count it.

Every attack connection opens with the same TCP handshake and CONNECT as a legitimate one, so
the first packets of a connection look alike in every class, however much of the connection
so far a feature reads. What differs at that moment is the traffic around it: forty clients
connecting at once (dos), one refused login after another (bruteforce), connections held open
and idle (slowite). These are the time-based traffic features of intrusion detection (KDD Cup
99's "connections to the same host in the past two seconds"), counted over the packet's
capture, the observation point, and causal like the rest of ``packet_context``:

- ``peer_packets``: the capture's packets in the last :data:`WINDOW_SECONDS`, this one included;
- ``peer_opens``: connections whose first packet is in that window;
- ``peer_active``: connections opened so far and not yet closed (no FIN or RST seen).

"Last" is by capture time, and "so far" by (capture time, connection id, position in the
connection), the order :func:`mqttids.connection.features.packet_context` gives the packets.
:class:`PeerState` is the live equivalent, fed in that order. A capture's address or port
never enters: only counts of its packets and connections.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Mapping

# KDD Cup 99's window for its time-based traffic features. A constant, not a setting: a model
# learnt with one window must be scored with the same one.
WINDOW_SECONDS = 2.0
NAMES: tuple[str, ...] = ("peer_packets", "peer_opens", "peer_active")
# tcp.flags bits that end a connection: FIN (0x01) and RST (0x04).
CLOSING_FLAGS = 0x05


def closes(flags: object) -> bool:
    """Whether a packet's tcp.flags hold FIN or RST."""
    return flags is not None and (int(flags) & CLOSING_FLAGS) != 0


class PeerState:
    """The peers of one capture, for packets fed in capture-time order.

    Keeps the times of the packets and connection opens of the last window (sorted, pruned
    as time moves on) and the connections open now, so memory follows the traffic of
    the window and the connections not yet closed, not the capture's length.
    """

    def __init__(self) -> None:
        self._packets: list[int] = []  # capture times (microseconds) of the window's packets
        self._opens: list[int] = []  # first-packet times of the window's new connections
        self._open: set[Hashable] = set()  # connections opened and not yet closed

    def update(self, connection: Hashable, first: bool, packet: Mapping[str, object], t: int) -> dict:
        """Add one packet (``first``: its connection's first; ``t``: capture time in whole
        microseconds) and give its ``ctx_peer_`` features."""
        horizon = t - round(WINDOW_SECONDS * 1e6)
        bisect.insort(self._packets, t)
        if first:
            bisect.insort(self._opens, t)
            self._open.add(connection)
        if closes(packet.get("tcp_flags")):
            self._open.discard(connection)
        for times in (self._packets, self._opens):
            del times[: bisect.bisect_right(times, horizon)]
        return {
            "ctx_peer_packets": float(len(self._packets)),
            "ctx_peer_opens": float(len(self._opens)),
            "ctx_peer_active": float(len(self._open)),
        }
