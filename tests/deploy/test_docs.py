"""The operator docs exist, link to real files, and quote messages the product really prints.

Each message printed when a process starts or a command runs (system checks, settings, the agent's start,
the template loaders, the GPU_BACKENDS parser) is made to appear by running that program with the
configuration that causes it, and the doc's text must match what it printed. Messages printed only in the
middle of a fault (a worker taken over, a socket lost…) are made to appear by the tests of their own areas;
here their literal parts are looked up in comfyweb's source.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from functools import cache

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from comfyweb.jobs.backends import parse_gpu_backends
from comfyweb.settings import DEV_SECRET_KEY
from tests.conftest import free_port
from tests.deploy.descriptors import DOCS, ROOT, source_text
from tests.processes import manage

PAGES = ["embedded.md", "single-gpu-box.md", "serverless-gpu.md", "kubernetes.md", "troubleshooting.md", "metrics.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
PLACEHOLDER = re.compile(r"<[^<>]+>|…")


def _quoted_messages() -> list[str]:
    """Messages quoted as `### `message`` headings in troubleshooting.md."""
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    return re.findall(r"^### `([^`]+)`", text, flags=re.MULTILINE)


def as_pattern(message: str) -> re.Pattern:
    """The doc's message with each <placeholder> standing for any text."""
    parts = PLACEHOLDER.split(message)
    return re.compile(".+?".join(re.escape(part) for part in parts))


# --- the programs, run with the configuration that makes them print ---------------------------------------


def _run(*args: str, env: dict[str, str]) -> str:
    process = manage(*args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process.communicate(timeout=180)[0]


@cache
def production_check() -> str:
    """`manage.py check` of a careless production: no key, SQLite and no Redis for several processes."""
    # --database: the SQLite check is tagged "database", which `check` runs only when asked
    env = {
        "EMBEDDED_DEV": "0",
        "DEBUG": "0",
        "SECRET_KEY": DEV_SECRET_KEY,
        "WEB_PROCESSES": "2",
        "REDIS_URL": "",
        "DATABASE_URL": "sqlite:////tmp/comfyweb-docs-check.sqlite3",
        "AWS_STORAGE_BUCKET_NAME": "",
        "MEDIA_ACCEL_REDIRECT_PREFIX": "",
    }
    return _run("check", "--database", "default", env=env)


@cache
def unreachable_bucket_check() -> str:
    nowhere = f"http://127.0.0.1:{free_port()}"
    return _run("check", env={"AWS_STORAGE_BUCKET_NAME": "docs-bucket", "AWS_ENDPOINT_URL": nowhere,
                              "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})  # fmt: skip


@cache
def careless_trust_check() -> str:
    """`manage.py check` with a retired variable, a label font that is not there, half a C2PA key pair and a
    moderation check that cannot be imported."""
    env = {
        "JOB_ANONYMOUS_IDENTITY": "address",
        "LABEL_FONT": "/nonexistent/font.ttc",
        "C2PA_CERT_FILE": "/nonexistent/chain.pem",
        "C2PA_KEY_FILE": "",
        "MODERATION_CHECKS": "comfyweb.nowhere.Check",
    }
    return _run("check", env=env)


@cache
def unreadable_c2pa_files_check() -> str:
    return _run("check", env={"C2PA_CERT_FILE": "/nonexistent/chain.pem", "C2PA_KEY_FILE": "/nonexistent/key.pem"})


@cache
def bad_log_format() -> str:
    return _run("check", env={"LOG_FORMAT": "xml"})


def _parser_error(value: str) -> str:
    try:
        parse_gpu_backends(value)
    except ValueError as exc:
        return str(exc)
    return ""


def _agent(*args: str, **env: str) -> str:
    result = subprocess.run([sys.executable, "-m", "comfyweb.agent", *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **env}, check=False)  # fmt: skip
    return result.stdout + result.stderr


def _command(*args: str) -> str:
    """A management command called in this process; its output and the error it stopped with."""
    out = io.StringIO()
    with translation.override("en"):  # the doc quotes the English text; the Chinese is its translation
        try:
            call_command(*args, stdout=out, stderr=out)
        except CommandError as exc:
            out.write(str(exc))
    return out.getvalue()


def _workflows_file(tmp_path_factory, name: str, content: str) -> str:
    path = tmp_path_factory.mktemp("workflows") / name
    path.write_text(content, encoding="utf-8")
    return str(path)


UI_WORKFLOW = json.dumps({"last_node_id": 1, "last_link_id": 0, "nodes": [], "links": [], "version": 0.4})

TRIGGERS = {
    "SECRET_KEY is the development key while DEBUG is off.": lambda f: production_check(),
    "Media files are streamed by the web process: set MEDIA_ACCEL_REDIRECT_PREFIX.": lambda f: production_check(),
    "WEB_PROCESSES > 1 with the in-memory channel layer: progress will not reach every browser.": (
        lambda f: production_check()
    ),
    "WEB_PROCESSES > 1 with SQLite: job claims need PostgreSQL's row locks.": lambda f: production_check(),
    "S3 media bucket <name>: the endpoint <url> cannot be reached (<error>).": lambda f: unreachable_bucket_check(),
    "JOB_ANONYMOUS_IDENTITY is no longer read: visitors are counted by account or session.": (
        lambda f: careless_trust_check()
    ),
    "LABEL_FONT <path> is not a file: the visible AI label has no Chinese glyphs.": lambda f: careless_trust_check(),
    "Set both C2PA_CERT_FILE and C2PA_KEY_FILE, or neither.": lambda f: careless_trust_check(),
    "<name> <path> is not a readable file.": lambda f: unreadable_c2pa_files_check(),
    "MODERATION_CHECKS names <path>, which cannot be imported: <error>": lambda f: careless_trust_check(),
    "LOG_FORMAT must be text or json, not <value>": lambda f: bad_log_format(),
    "GPU_BACKENDS: unknown kind <kind> (use agent or comfyui)": lambda f: _parser_error("gopher+http://gpu:1#1"),
    "GPU_BACKENDS: <entry> must be an http(s) URL with #slots >= 1": lambda f: _parser_error("agent+http://gpu:1#0"),
    "No such file or directory: <path>": lambda f: _command("loadworkflows", "/nonexistent/workflows.json"),
    "campaigns file not found: <path>": lambda f: _command("loaddemo", "--campaigns", "/nonexistent/campaigns.json"),
    "<file> is not valid JSON: <error>": lambda f: _command("loadworkflows", _workflows_file(f, "a.json", "[{")),
    "<where>: needs at least a title, a prompt and params.": (
        lambda f: _command("loadworkflows", _workflows_file(f, "c.json", '[{"title": "x"}]'))
    ),
    "the GPU agent cannot start: <reason>": lambda f: _agent("--store", "gopher://nowhere", "--port", str(free_port())),
    "the agent would listen on <host> without a token": lambda f: _agent("--host", "0.0.0.0"),
    "<variable> must be a whole number, not <value>": lambda f: _agent(AGENT_PORT="eighty"),
}

QUOTED = _quoted_messages()


def test_every_page_exists_and_the_readme_links_it():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Deployment", 1)
    assert len(section) == 2, "README.md has no Deployment section"
    for page in PAGES:
        assert (DOCS / page).is_file(), page
        assert f"docs/{page}" in section[1], f"README's Deployment section does not link docs/{page}"


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_resolve(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        path = (page.parent / target.split("#", 1)[0]).resolve()
        assert path.exists(), f"{page.name} links to missing {target}"


def test_troubleshooting_quotes_messages():
    assert len(QUOTED) >= 15
    assert set(TRIGGERS) <= set(QUOTED), "a message made to appear here is no longer quoted"


@pytest.mark.django_db
@pytest.mark.parametrize("message", [m for m in QUOTED if m in TRIGGERS])
def test_quoted_message_is_what_the_program_prints(message, tmp_path_factory):
    printed = TRIGGERS[message](tmp_path_factory)
    assert as_pattern(message).search(printed), f"not printed:\n{message}\n--- the program printed:\n{printed}"


@pytest.mark.parametrize("message", [m for m in QUOTED if m not in TRIGGERS])
def test_fault_message_is_in_the_product(message):
    """Each literal part (between <placeholders>) appears in comfyweb's code or its translations."""
    source = source_text()
    fragments = [part.strip() for part in PLACEHOLDER.split(message) if len(part.strip()) >= 4]
    assert fragments, message
    for fragment in fragments:
        assert fragment in source, f"{fragment!r} is not in comfyweb/"


def test_every_system_check_id_is_explained_and_raised():
    """The ids the checks print in the configurations above (and test_media_bucket.py's) are the documented ones."""
    printed = set(
        re.findall(
            r"comfyweb\.[EW]\d{3}",
            production_check() + unreachable_bucket_check() + careless_trust_check() + unreadable_c2pa_files_check(),
        )
    )
    documented = set(re.findall(r"comfyweb\.[EW]\d{3}", (DOCS / "troubleshooting.md").read_text(encoding="utf-8")))
    assert printed == documented


def test_the_message_check_has_teeth():
    assert not as_pattern("SECRET_KEY is <x> while DEBUG is on.").search(production_check())
    assert "This message is printed nowhere" not in source_text()


def test_the_documented_nginx_config_is_the_one_compose_runs():
    page = (DOCS / "single-gpu-box.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```nginx\n(.*?)```", page, flags=re.DOTALL)
    assert block == (ROOT / "deploy" / "nginx" / "comfyweb.conf").read_text(encoding="utf-8")
