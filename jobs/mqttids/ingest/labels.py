"""Which class a file's packets belong to, from its name, for files without a ``target`` column.

Captures and the authors' per-class CSVs hold one class each and say which only in their names
(``capture_flood.pcap``, ``legitimate_1w.csv``). A label map lists file-name patterns and their
classes; matching is on the file's base name, case-insensitive. A pattern with glob characters
(``*?[``) is a glob on the whole name, any other is a substring. The default knows the names of
the public MQTTset distribution; ``--labels`` / the ``labels`` param replaces it.
"""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass

from mqttids.schema import LABELS, label_value

DEFAULT_TEXT = (
    "capture_1w=legitimate,legitimate=legitimate,benign=legitimate,malaria=dos,dos=dos,"
    "bruteforce=bruteforce,flood=flood,malformed=malformed,slowite=slowite"
)


class LabelMapError(ValueError):
    """The label map is malformed, matches nothing, or gives a file two classes."""


@dataclass(frozen=True)
class LabelMap:
    """Ordered (pattern, class) pairs; ``given`` says whether the user wrote them."""

    entries: tuple[tuple[str, str], ...]
    given: bool = False

    @classmethod
    def parse(cls, text: str | None) -> LabelMap:
        """``pattern=class,pattern=class``; empty or None: the default map."""
        if not (text or "").strip():
            return cls.parse_entries(DEFAULT_TEXT, given=False)
        return cls.parse_entries(text, given=True)

    @classmethod
    def parse_entries(cls, text: str, given: bool) -> LabelMap:
        entries = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            pattern, sep, name = item.partition("=")
            label = label_value(name)
            if not sep or not pattern.strip() or label is None:
                raise LabelMapError(
                    f"label map entry {item!r} is not pattern=class with a class among "
                    f"{', '.join(LABELS)} (example: 'capture_1w=legitimate,malaria=dos')"
                )
            entries.append((pattern.strip().lower(), label))
        return cls(tuple(entries), given)

    def classes(self, file: str) -> dict[str, list[str]]:
        """Every class the file's name matches, with the patterns that matched it."""
        name = posixpath.basename(file.rstrip("/")).lower()
        found: dict[str, list[str]] = {}
        for pattern, label in self.entries:
            glob = any(ch in pattern for ch in "*?[")
            if fnmatch.fnmatchcase(name, pattern) if glob else pattern in name:
                found.setdefault(label, []).append(pattern)
        return found

    def label(self, file: str) -> str | None:
        """The one class the file's name matches, None if none; two classes are an error."""
        found = self.classes(file)
        if len(found) > 1:
            shown = "; ".join(f"{label} (by {', '.join(p)})" for label, p in found.items())
            raise LabelMapError(
                f"{file} matches two classes of the label map: {shown}. Rename the file or give "
                "a labels map whose patterns tell them apart"
            )
        return next(iter(found), None)

    def __str__(self) -> str:
        return ",".join(f"{p}={label}" for p, label in self.entries)
