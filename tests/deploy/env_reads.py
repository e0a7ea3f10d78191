"""Which environment variables the programs really read: run them with an os.environ that records each read.

    python -m tests.deploy.env_reads      # prints {"comfyweb": [...], "third_party": {NAME: package}}

The web's settings are imported twice (as shipped, then with HTTPS and S3 media, whose variables are read
only then), the agent builds its settings from the environment and configures its logging as its command
does, the S3 client of the media storage is made (boto3 reads its own variables), and deploy/probe.py is
loaded. A read is the program's whose frame asked for it: comfyweb/ (and deploy/), or a third-party package.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUMBING = (
    "/os.py",
    "<frozen os>",
    "_collections_abc.py",
    "<frozen _collections_abc>",
    "/environ/environ.py",
    "/tests/deploy/env_reads.py",
)
READS: dict[str, set[str]] = {}


def _reader() -> str:
    """Who asked: 'comfyweb' for our code (comfyweb/, deploy/), else the top-level package of the caller."""
    frame = sys._getframe(2)
    while frame and frame.f_code.co_filename.endswith(PLUMBING):
        frame = frame.f_back
    filename = frame.f_code.co_filename if frame else "?"
    path = Path(filename)
    if path.is_relative_to(ROOT / "comfyweb") or path.is_relative_to(ROOT / "deploy"):
        return "comfyweb"
    parts = path.parts
    return parts[parts.index("site-packages") + 1].split(".")[0] if "site-packages" in parts else path.stem


class RecordingEnviron(type(os.environ)):
    def __getitem__(self, key):
        READS.setdefault(key, set()).add(_reader())
        return super().__getitem__(key)

    def __contains__(self, key):
        READS.setdefault(key, set()).add(_reader())
        return super().__contains__(key)


def record() -> dict:
    environ = os.environ
    # The same mapping (os.environ's own dict), read through a recorder: nothing is cleared or copied.
    os.environ = RecordingEnviron(  # noqa: B003
        environ._data, environ.encodekey, environ.decodekey, environ.encodevalue, environ.decodevalue
    )
    for name in [n for n in os.environ if n.startswith(("AWS_", "AGENT_"))] + ["REDIS_URL", "DATABASE_URL"]:
        os.environ.pop(name, None)  # the machine's own values would hide reads that happen only without them
    os.environ["DJANGO_SETTINGS_MODULE"] = "comfyweb.settings"
    settings = importlib.import_module("comfyweb.settings")
    os.environ.update(HTTPS="1", AWS_STORAGE_BUCKET_NAME="read-check", AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s")
    importlib.reload(settings)

    import django

    django.setup()
    from django.core.files.storage import default_storage

    default_storage.connection.meta.client  # noqa: B018 - boto3 reads its variables while making the client

    from comfyweb.agent.cli import build_parser, configure_logging, settings_from_options

    os.environ["AGENT_TOKEN"] = "read-check"  # the agent refuses to build settings on 0.0.0.0 without one
    settings_from_options(build_parser().parse_args([]))
    configure_logging()
    runpy.run_path(str(ROOT / "deploy" / "probe.py"))
    ours = sorted(name for name, readers in READS.items() if "comfyweb" in readers)
    theirs = {name: sorted(readers - {"comfyweb"})[0] for name, readers in READS.items() if readers - {"comfyweb"}}
    return {"comfyweb": ours, "third_party": theirs}


if __name__ == "__main__":
    json.dump(record(), sys.stdout)
