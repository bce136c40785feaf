"""Which input locations a job may read, checked before any file system is asked.

Input paths come from people: trigger params (``train_uri``, ``test_uri``,
``replay_file``) and command lines. Handed to Hadoop's file system layer as
they are, ``http://`` and ``https://`` URIs would make the worker or the
cluster fetch any address (blind SSRF), and a local path could read any file
the worker can. So an input must be a local path under one of the allowed
roots (``MQTTIDS_DATA_DIR``, ``MQTTIDS_LANDING_URI`` and the folders in
``MQTTIDS_INPUT_ROOTS``) or a URI under one of the URI prefixes of
``MQTTIDS_INPUT_ROOTS`` (``gs://`` by default). Everything else is refused
with :class:`InputNotAllowed`, before Hadoop, Spark or ``open`` sees it.

Local paths are compared after resolving ``..`` and symbolic links, and a
glob is checked twice: its fixed part here, and every file it matched
(:func:`check_matched`), so a link inside a root cannot lead out of it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from mqttids.runtime import config

# A scheme the way Hadoop's Path finds one: text before a colon that comes before any slash.
_HADOOP_SCHEME = re.compile(r"^([^/:]*):")
_GLOB = re.compile(r"[*?\[{]")
EXCERPT_CHARS = 40


class InputNotAllowed(ValueError):
    """An input location outside what the platform is configured to read."""


def allowed_roots() -> list[str]:
    """The data dir, the landing root and MQTTIDS_INPUT_ROOTS, in that order."""
    entries = [config.DATA_DIR.get(), config.LANDING_URI.get(), *config.INPUT_ROOTS.get().split(",")]
    return [e.strip() for e in entries if e.strip()]


def scheme(uri: str) -> str:
    """The URI's scheme as Hadoop would read it, lower case; '' for a plain path."""
    match = _HADOOP_SCHEME.match(uri)
    return match.group(1).lower() if match else ""


def local_path(path: str) -> Path:
    """A local path or file: URI, absolute, with '..' and symbolic links resolved."""
    if scheme(path) == "file":
        path = re.sub(r"^file:(//)?", "", path, flags=re.IGNORECASE)
    return Path(os.path.realpath(os.path.abspath(path)))


def _fixed_part(path: str) -> str:
    """The part of a glob before its first wildcard component (the whole path if none)."""
    parts = PurePosixPath(path).parts
    for i, part in enumerate(parts):
        if _GLOB.search(part):
            return str(PurePosixPath(*parts[:i])) if i else "."
    return path


def _under_local_root(path: Path, roots: list[str]) -> bool:
    return any(path.is_relative_to(local_path(r)) for r in roots if scheme(r) in ("", "file"))


def _under_uri_root(uri: str, roots: list[str]) -> bool:
    if ".." in uri.split("/") or _GLOB.search(uri.split("://", 1)[-1].split("/", 1)[0]):
        return False  # no climbing out of a prefix, no wildcard in the bucket or host
    for root in roots:
        if scheme(root) in ("", "file"):
            continue
        prefix = root if root.endswith("/") else root + "/"
        if uri.lower().startswith(prefix.lower()) if prefix.endswith("://") else uri.startswith(prefix):
            return True
    return False


def _refusal(what: str, uri: str, roots: list[str]) -> InputNotAllowed:
    return InputNotAllowed(
        f"{what} {uri!r} is not an allowed input: inputs must be local paths under, or URIs "
        f"starting with, one of {', '.join(roots)} (set MQTTIDS_INPUT_ROOTS to allow more)"
    )


def check(uri: str, what: str = "input") -> str:
    """Return ``uri`` unchanged if it may be read, else raise InputNotAllowed (nothing is opened)."""
    roots = allowed_roots()
    if not uri or "\x00" in uri:
        raise InputNotAllowed(f"{what} is empty or not a path")
    kind = scheme(uri)
    if kind in ("", "file"):
        if not _under_local_root(local_path(_fixed_part(uri)), roots):
            raise _refusal(what, uri, roots)
    elif not _under_uri_root(uri, roots):
        raise _refusal(what, uri, roots)
    return uri


def check_matched(file: str, what: str = "input") -> str:
    """Check one file a glob matched (Hadoop spells local ones as file: URIs)."""
    roots = allowed_roots()
    kind = scheme(file)
    allowed = (
        _under_local_root(local_path(file), roots) if kind in ("", "file") else _under_uri_root(file, roots)
    )
    if not allowed:
        raise _refusal(what, file, roots)
    return file


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """At most ``limit`` characters of a file's text, for error messages that must not echo files."""
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")
