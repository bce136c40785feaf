"""The report pages: :func:`pipeline_report` for an mqtt_pipeline run, :func:`stream_report` for
an mqtt_tweet_stream run. Each returns one self-contained HTML document (Plotly inlined).

``links`` is where other systems hook in: a mapping of model name to a URL (its MLflow run, say)
that the learning section shows beside the metrics. The report itself knows no such system.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from html import escape
from pathlib import Path

from mqttids.report import charts, html, read

H = html


def pipeline_report(
    conn, run_id: str, batch_date: date | None = None, links: Mapping[str, str] | None = None
) -> str:
    """The report of one mqtt_pipeline run, from the warehouse (LookupError if it left nothing)."""
    run = read.pipeline_run(conn, run_id, batch_date)
    if run.empty:
        raise LookupError(f"run {run_id!r} left no rows in the warehouse (batch {batch_date or 'unknown'})")
    body = [_ingest(run), _analytics(run), _learning(run, links or {})]
    nav = [("ingest", "Ingest"), ("analytics", "Analytics"), ("learning", "Learning")]
    subtitle = f"run {run_id} · batch {run.batch_date or 'unknown'}"
    return H.document("mqtt_pipeline run report", subtitle, nav, body, charts.plotly_js())


def stream_report(conn, run_id: str) -> str:
    """The report of one mqtt_tweet_stream run: mentions per term and per window."""
    run = read.stream_run(conn, run_id)
    if run.info is None:
        raise LookupError(f"no tweet-stream run {run_id!r} in the warehouse")
    terms, plurals, window, source, started, published = run.info
    totals = {t: 0 for t in terms}
    for _, term, n in run.counts:
        totals[term] = totals.get(term, 0) + n
    settings = H.table(
        "stream-run",
        ("terms", "plurals", "window s", "source", "started", "tweets published"),
        [(terms, plurals, window, source, started, published)],
    )
    parts = [
        settings,
        H.grid(
            charts.to_div(
                charts.bars(list(totals), list(totals.values()), "Mentions per term", "mentions"), "c-terms"
            ),
            charts.to_div(charts.mentions_over_time(run.counts), "c-windows"),
        ),
        H.table("term-totals", ("term", "mentions"), totals.items()),
        H.table("term-windows", ("window start", "term", "mentions"), run.counts),
    ]
    body = [H.section("stream", "Mentions per term and window", *parts)]
    return H.document("mqtt_tweet_stream run report", f"run {run_id}", [], body, charts.plotly_js())


def write(page: str, path: Path) -> Path:
    """Write a page atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def _ingest(run: read.PipelineRun) -> str:
    if run.batch is None:
        return H.section("ingest", "Ingest", H.note(f"batch {run.batch_date} was not loaded."))
    read_, loaded, rejected, seconds, sources = run.batch
    parts = [
        H.table(
            "ingest-batch",
            ("batch", "rows read", "rows loaded", "rows rejected", "seconds", "sources"),
            [(run.batch_date, read_, loaded, rejected, float(seconds), sources)],
        ),
        H.grid(
            charts.to_div(
                charts.grouped_bars(run.counts, "Packets loaded per class", "packets", x=1, series=0, y=2),
                "c-ingest-counts",
            ),
            H.table("ingest-counts", ("split", "class", "packets"), run.counts),
        ),
        "<h3>Rejected rows</h3>",
    ]
    if run.rejects:
        reasons: dict[str, int] = {}
        for _, reason, n, _ in run.rejects:
            reasons[reason] = reasons.get(reason, 0) + n
        parts += [
            charts.to_div(
                charts.bars(list(reasons), list(reasons.values()), "Rejected rows per reason", "rows"),
                "c-rejects",
            ),
            H.table("rejects", ("split", "reason", "rows", "example line"), run.rejects, code=3),
        ]
    else:
        parts.append(H.note("No row was rejected."))
    return H.section("ingest", "Ingest", *parts)


def _analytics(run: read.PipelineRun) -> str:
    if not run.avg_mqtt_len:
        return H.section("analytics", "Analytics", H.note("Analytics did not run for this run id."))
    top_x = run.top_flags[0][1] if run.top_flags else 0
    lens = run.avg_mqtt_len
    parts = [
        H.grid(
            charts.to_div(
                charts.bars([s for s, *_ in lens], [a for *_, a in lens], "Average mqtt.len", "bytes"),
                "c-mqtt-len",
            ),
            H.table("avg-mqtt-len", ("split", "packets", "avg mqtt.len"), lens),
        ),
        H.grid(
            charts.to_div(
                charts.grouped_bars(
                    run.avg_tcp_len, "Average tcp.len per class", "bytes", x=1, series=0, y=3
                ),
                "c-tcp-len",
            ),
            H.table("avg-tcp-len", ("split", "class", "packets", "avg tcp.len"), run.avg_tcp_len),
        ),
        f"<h3>Top {top_x} TCP flags per split (ties at rank {top_x} kept)</h3>",
        H.grid(
            charts.to_div(
                charts.grouped_bars(
                    run.top_flags, "Packets per TCP flags value", "packets", x=3, series=0, y=4
                ),
                "c-flags",
            ),
            H.table("top-flags", ("split", "top x", "rank", "tcp.flags", "packets"), run.top_flags),
        ),
        H.grid(
            charts.to_div(
                charts.grouped_bars(run.histogram, "Class histogram", "packets", x=1, series=0, y=2),
                "c-histogram",
            ),
            H.table("class-histogram", ("split", "class", "packets", "share"), run.histogram),
        ),
        "<h3>Most frequent MQTT header flags per class (0x00 = no MQTT layer)</h3>",
        H.table("hdrflags", ("split", "class", "mqtt.hdrflags", "packets", "share"), run.hdrflags),
    ]
    return H.section("analytics", "Analytics (Task II)", *parts)


def _learning(run: read.PipelineRun, links: Mapping[str, str]) -> str:
    parts = []
    if run.models:
        parts += [
            H.note("test split; 'unseen' = the test rows whose feature vector never occurs in train"),
            H.table("models", read.MODEL_COLUMNS, run.models),
        ]
        if links:
            parts.append(
                "<p>"
                + " · ".join(
                    f'<a href="{escape(u)}" target="_blank">{escape(m)}</a>' for m, u in links.items()
                )
                + "</p>"
            )
        parts.append(
            charts.to_div(
                charts.grouped_bars(run.recall, "Recall per class (test)", "recall", x=1, series=0, y=2),
                "c-recall",
            )
        )
        parts.append(
            H.grid(
                *(charts.to_div(charts.confusion(c, m), f"c-confusion-{m}") for m, c in run.confusion.items())
            )
        )
    else:
        parts.append(H.note("No model was trained in this run (models param empty or learning skipped)."))
    parts.append("<h3>Champion</h3>")
    if run.decision:
        parts.append(H.table("decision", read.DECISION_COLUMNS, [run.decision]))
    if run.history:
        parts += [
            charts.to_div(charts.champion_history(run.history), "c-champions"),
            H.table("champions", ("promoted at", "run", "model", "macro F1", "promoted"), run.history),
        ]
    else:
        parts.append(H.note("No champion has been promoted yet."))
    return H.section("learning", "Learning", *parts)
