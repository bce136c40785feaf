"""Upgrade the warehouse schema, or show which revision it is at.

    python -m mqttids.warehouse upgrade [--db-url URL] [--to REVISION]
    python -m mqttids.warehouse current [--db-url URL]
    python -m mqttids.warehouse history
    python -m mqttids.warehouse revision --id 0006 -m "what changes"

The database is found the way the jobs find it: --db-url, else MQTTIDS_DB_URL, else the embedded
PostgreSQL (started if needed). ``make db-upgrade`` runs ``upgrade``. Alembic is imported only
when a command runs, so this module imports anywhere the library does.
"""

from __future__ import annotations

import argparse
import logging
import sys

from mqttids.runtime import cli, db
from mqttids.warehouse import revision


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser("python -m mqttids.warehouse", __doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("upgrade", help="apply every missing revision (idempotent)")
    cli.add_db(up)
    up.add_argument("--to", default="head", metavar="REVISION", help="stop at this revision (default: head)")
    down = sub.add_parser("downgrade", help="undo revisions down to REVISION (base: drop all tables)")
    cli.add_db(down)
    down.add_argument("revision", help="the revision to go back to, or base")
    cli.add_db(sub.add_parser("current", help="print the warehouse's revision and whether it is current"))
    sub.add_parser("history", help="list the revisions, oldest first")
    new = sub.add_parser("revision", help="write an empty revision file on top of the head")
    new.add_argument("--id", required=True, help="the revision id assigned to the change, e.g. 0006")
    new.add_argument("-m", "--message", required=True, help="what the revision changes, one line")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cli.setup_logging()
    logging.getLogger("alembic").setLevel(logging.WARNING)  # quiet by default: one line per change
    from mqttids.warehouse import migrations

    if args.command == "history":
        for rev_id, doc in migrations.history():
            print(f"{rev_id}  {doc}")
        return 0
    if args.command == "revision":
        print(f"wrote {migrations.new_revision(args.id, args.message)}")
        return 0
    url = db.resolve_url(args.db_url)
    where = db.DbUrl.parse(url)
    try:
        if args.command == "upgrade":
            before, after = migrations.upgrade(url, args.to)
            change = f"upgraded from {before or 'no revision'} to {after}" if before != after else "unchanged"
            print(f"warehouse {where}: {change} (head {migrations.script_head()})")
        elif args.command == "downgrade":
            before, after = migrations.downgrade(url, args.revision)
            print(f"warehouse {where}: downgraded from {before or 'no revision'} to {after or 'no revision'}")
        else:
            found = _current(url)
            state = revision.problem(found, str(where)) or "current"
            print(f"warehouse {where}: revision {found or 'none'} ({state})")
            return 0 if found == revision.HEAD else 1
    except db.DatabaseUnreachable as err:
        print(f"{args.command} failed: {err}", file=sys.stderr)
        return 1
    return 0


def _current(url: str) -> str | None:
    conn = db.connect(url, application="mqttids-warehouse")
    try:
        return revision.current(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
