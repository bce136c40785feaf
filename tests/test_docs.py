"""The README and the pages in docs/ say only what is true of this checkout.

Every internal link and #anchor resolves (GitHub's anchor rules), the README stays a front page,
every job command line names a job whose --help accepts its flags, and every make target,
``python -m`` module, library module, repository path and MQTTIDS_ variable they name exists.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mqttids.learning import tracking
from mqttids.runtime import config

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
JOB_COMMAND = re.compile(
    r"(?:spark-submit|python3?|\.venv/bin/python)\s+(?:\S*/)?jobs/(\w+)\.py((?:[ \t]+[^\s`|;&#]+)*)"
)
REPO_PATH = re.compile(r"^(?:jobs|plugins|dags|tests|bench|docs|docker|scripts)/[\w./-]*$")


def page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def prose(text: str) -> str:
    """The text outside fenced code blocks, where a link is a link."""
    return FENCE.sub("", text)


def code(text: str) -> list[str]:
    """Fenced code blocks and inline code spans: where commands and paths are written."""
    blocks = [m.group(0) for m in FENCE.finditer(text)]
    spans = [m.group(2) for m in INLINE_CODE.finditer(prose(text))]
    return blocks + spans


def commands(text: str) -> str:
    """The page's code with shell line continuations joined, so one command is one line."""
    return re.sub(r"\\\n\s*", " ", "\n".join(code(text)))


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: its rendered text, lower-cased, punctuation dropped."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = text.replace("`", "")
    text = re.sub(r"(\*\*|__|\*)(.+?)\1", r"\2", text)  # emphasis markers, not literal underscores
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@functools.cache
def anchors(page: Path) -> frozenset[str]:
    """Every heading id of a page, with GitHub's -1, -2 suffixes for repeated headings."""
    seen: dict[str, int] = {}
    ids = set()
    for match in HEADING.finditer(prose(page.read_text(encoding="utf-8"))):
        base = github_anchor(match.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        ids.add(base if n == 0 else f"{base}-{n}")
    return frozenset(ids)


def internal_links(page: Path) -> list[str]:
    targets = LINK.findall(prose(page.read_text(encoding="utf-8")))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]  # no http:, mailto:


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_internal_links_resolve(page):
    broken = []
    for target in internal_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {os.path.relpath(file, ROOT)}")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file)):
            broken.append(f"{target}: no heading with id #{anchor} in {page_id(file)}")
    assert not broken, f"{page_id(page)} has broken links:\n" + "\n".join(broken)


def test_the_link_checker_sees_links_and_anchors():
    """The checks above are not vacuous: the README links to pages, and anchors follow GitHub."""
    assert len(internal_links(README)) >= 10
    assert github_anchor("`mqtt.packets`") == "mqttpackets"
    assert github_anchor("6. Airflow settings") == "6-airflow-settings"
    assert github_anchor('"dos"') == "dos"
    assert github_anchor("What the tests verify, and what they do not") == (
        "what-the-tests-verify-and-what-they-do-not"
    )


def test_readme_is_a_front_page():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move details into docs/"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in internal_links(README)}
    unlinked = [page_id(p) for p in PAGES[1:] if p.resolve() not in linked]
    assert not unlinked, f"pages the README does not link to: {unlinked}"


def documented_job_commands() -> list[tuple[str, str, list[str]]]:
    """(page, job, arguments) for every `spark-submit|python jobs/<name>.py ...` in the docs."""
    found = []
    for page in PAGES:
        for match in JOB_COMMAND.finditer(commands(page.read_text(encoding="utf-8"))):
            found.append((page_id(page), match.group(1), match.group(2).split()))
    return found


@functools.cache
def job_help(job: str, subcommand: str = "") -> str:
    """The job's (or its subcommand's) --help text; fails the test when --help does not exit 0."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "jobs"), str(ROOT / "plugins")])}
    argv = [sys.executable, str(ROOT / "jobs" / f"{job}.py"), *([subcommand] if subcommand else []), "--help"]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert result.returncode == 0, f"{' '.join(argv[1:])} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


def job_exists(job: str) -> bool:
    return (ROOT / "jobs" / f"{job}.py").is_file()


def subcommand(job: str, args: list[str]) -> str:
    """The documented subcommand (``produce`` in ``tweet_stream.py produce ...``), if the job has any."""
    choices = re.search(r"\{([\w,]+)\}", job_help(job).split("\n\n")[0])
    return args[0] if args and choices and args[0] in choices.group(1).split(",") else ""


def test_documented_job_commands_work():
    found = documented_job_commands()
    assert len(found) >= 10, f"expected the docs to show job command lines, found {found}"
    missing = sorted(
        {f"{page}: jobs/{job}.py does not exist" for page, job, _ in found if not job_exists(job)}
    )
    found = [(page, job, args) for page, job, args in found if job_exists(job)]
    # Each --help starts a fresh interpreter: run them side by side, jobs first, then subcommands.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(job_help, {job for _, job, _ in found}))
        list(pool.map(lambda call: job_help(*call), {(job, subcommand(job, args)) for _, job, args in found}))
    problems = list(missing)
    for page, job, args in found:
        sub = subcommand(job, args)
        for flag in (a.split("=")[0] for a in args if a.startswith("--")):
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", job_help(job, sub)):
                command = " ".join(filter(None, [f"jobs/{job}.py", sub]))
                problems.append(f"{page}: {command} does not accept {flag}")
    assert not problems, "\n".join(problems)


def test_documented_make_targets_exist():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    named = {
        (page_id(p), target)
        for p in PAGES
        for target in re.findall(r"\bmake ([a-z][\w-]*)", commands(p.read_text(encoding="utf-8")))
    }
    assert len(named) >= 5
    missing = sorted(f"{page}: make {t}" for page, t in named if t not in targets)
    assert not missing, f"no such make targets: {missing}"


def module_spec(name: str):
    """The module's spec, or None; importing only its parent packages, never the module itself."""
    try:
        return importlib.util.find_spec(name)
    except ModuleNotFoundError:  # a parent is a module, not a package
        return None


# The tags the learning jobs put on MLflow runs are named like modules; they are the tracking module's.
MLFLOW_TAGS = {value for name, value in vars(tracking).items() if name.startswith("TAG_")}


def test_documented_modules_exist():
    """`python -m x.y` names a module; `mqttids.x.y` names a module, or a def or class in one."""
    problems = []
    for page in PAGES:
        text = commands(page.read_text(encoding="utf-8"))
        for module in re.findall(r"python3? -m ([\w.]+)", text):
            if module_spec(module) is None:
                problems.append(f"{page_id(page)}: python -m {module}: no such module")
        for name in set(re.findall(r"\b(mqttids(?:\.\w+)+)", text)) - {"mqttids.zip"}:  # a file
            if module_spec(name) is not None or name in MLFLOW_TAGS:
                continue
            parent, _, attr = name.rpartition(".")
            spec = module_spec(parent) if "." in parent else None
            source = Path(spec.origin).read_text() if spec and spec.origin else ""
            if not re.search(rf"^(?:def|class) {attr}\b|^{attr}\s*[:=]", source, re.M):
                problems.append(f"{page_id(page)}: {name}: no such module, function or class")
    assert not problems, "\n".join(problems)


def test_documented_repository_paths_exist():
    named = {
        (page_id(p), span.rstrip("/"))
        for p in PAGES
        for span in code(p.read_text(encoding="utf-8"))
        if REPO_PATH.match(span) and not re.search(r"[<>*{}]", span)
    }
    assert len(named) >= 20
    missing = sorted(f"{page}: {path}" for page, path in named if not (ROOT / path).exists())
    assert not missing, f"paths that do not exist: {missing}"


def test_documented_variables_exist():
    """Every MQTTIDS_ variable the docs name is a setting, or one the tests or the compose file read."""
    known = {s.name for s in config.ALL_SETTINGS}
    for reader in (ROOT / ".env.example", ROOT / "tests" / "conftest.py"):
        known |= set(re.findall(r"\bMQTTIDS_[A-Z0-9_]+", reader.read_text()))
    named = {(page_id(p), v) for p in PAGES for v in re.findall(r"\bMQTTIDS_[A-Z0-9_]+", p.read_text())}
    unknown = sorted(f"{page}: {v}" for page, v in named if v not in known)
    assert not unknown, f"variables nothing reads: {unknown}"
