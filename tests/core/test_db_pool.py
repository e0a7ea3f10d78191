"""The PostgreSQL pool is on by default, and slow work that needs no database (a photo's check, the moderation,
a download) hands the connection back.

In a process of its own on a fresh PostgreSQL database (the test suite's own database is SQLite): a pool of
one connection, a request-like thread that borrowed it and then checks a photo, and a second thread that
needs a connection meanwhile. Without the hand-back the second would wait for the pool's timeout and fail.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from django.db import connection

from comfyweb.jobs.trust.moderation import Check
from tests.processes import manage
from tests.services import fresh_postgres_database

pytestmark = [pytest.mark.postgres]


class ConnectionProbe(Check):
    """A moderation check (MODERATION_CHECKS) that notes whether its thread held a connection while it ran."""

    name = "probe"
    held: list[bool] = []

    def check_text(self, text, *, stage):
        ConnectionProbe.held.append(connection.connection is not None)


SCRIPT = """
import io, json, threading
from django.conf import settings
from django.db import connection, transaction
from PIL import Image
from comfyweb.catalog.forms import check_image_bytes
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.trust.inputs import check_inputs

photo = io.BytesIO()
Image.new("RGB", (64, 48), "teal").save(photo, "PNG")
report = {"pool": connection.settings_dict["OPTIONS"].get("pool", {})}

WorkflowTemplate.objects.count()  # this thread now holds the pool's only connection
report["held_before"] = connection.connection is not None
other = {}

def other_request():
    try:
        other["count"] = WorkflowTemplate.objects.count()
    except Exception as exc:
        other["error"] = type(exc).__name__
    finally:
        connection.close()

check_image_bytes(photo.getvalue(), "p.png")
report["held_after_photo"] = connection.connection is not None
thread = threading.Thread(target=other_request)
thread.start(); thread.join()
report["other_after_photo"] = other.copy()

from tests.core.test_db_pool import ConnectionProbe
WorkflowTemplate.objects.count()
check_inputs({"caption": "a walk on the beach", "mood": "sunny"}, threshold=0.5)
report["held_during_checks"] = ConnectionProbe.held

with transaction.atomic():
    WorkflowTemplate.objects.count()
    check_image_bytes(photo.getvalue(), "p.png")
    report["held_in_transaction"] = connection.connection is not None

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse
from comfyweb.core.streaming import sent_in_chunks, stored_file_response
name = default_storage.save("inputs/pool-probe.png", ContentFile(photo.getvalue()))
WorkflowTemplate.objects.count()
stored_file_response(name, content_type="image/png")
report["held_for_a_stored_download"] = connection.connection is not None
WorkflowTemplate.objects.count()
sent_in_chunks(FileResponse(default_storage.open(name, "rb")))
report["held_for_a_file_response"] = connection.connection is not None
print(json.dumps(report))
"""


def test_a_photo_check_the_moderation_and_a_download_hand_the_pooled_connection_back(tmp_path):
    with fresh_postgres_database("comfyweb_pool") as database:
        env = {
            "DATABASE_URL": database,
            "MEDIA_ROOT": str(tmp_path / "media"),
            "DATABASE_POOL_TIMEOUT": "3",
            "DATABASE_POOL_SIZE": "1",
            "MODERATION_CHECKS": "tests.core.test_db_pool.ConnectionProbe",
        }
        assert manage("migrate", "--noinput", env=env, stdout=subprocess.DEVNULL).wait(180) == 0
        shell = manage("shell", "-c", SCRIPT, env=env, stdout=subprocess.PIPE, text=True)
        out, _ = shell.communicate(timeout=180)
    assert shell.returncode == 0, out
    report = json.loads(out.strip().splitlines()[-1])
    assert report["pool"]["max_size"] == 1
    assert report["held_before"] is True
    assert report["held_after_photo"] is False
    assert report["other_after_photo"] == {"count": 0}, "the other thread got the connection at once"
    assert report["held_during_checks"] == [False, False], "each check runs without a connection"
    assert report["held_in_transaction"] is True, "a transaction keeps its connection"
    assert report["held_for_a_stored_download"] is False, "a slow phone's download does not hold it"
    assert report["held_for_a_file_response"] is False, "nor one sent from a FileResponse"


def test_the_pool_is_on_by_default_for_postgresql():
    script = "from django.db import connection; print(connection.settings_dict['OPTIONS'].get('pool'))"
    env = {"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"}  # settings only: nothing connects
    shown = manage("shell", "-c", script, env=env, stdout=subprocess.PIPE, text=True)
    out, _ = shown.communicate(timeout=120)
    assert "'max_size': 10" in out, out
