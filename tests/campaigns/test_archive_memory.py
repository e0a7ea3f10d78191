"""Download all of a large batch costs a real web process little memory: the ZIP is streamed, never built.

The real web commands (`manage.py serve`, the embedded topology, and `manage.py web`, the scaled-out one)
serve a batch of 8 images × 3 outputs of 8 MiB of incompressible bytes each (192 MiB). The visitor
downloads the batch's ZIP, stopping for two seconds after the first chunk as a phone on a slow network
would fall behind: the server's peak resident memory during the download (the kernel's high-water mark,
reset just before) stays far below the archive's size, so nothing read ahead piles up in the process, and
the archive arrives whole.
"""

from __future__ import annotations

import json
import subprocess
import time
import zipfile

import httpx
import pytest

from tests.memory import MB, peak_rss_growth
from tests.processes import free_port, manage, stop, wait_for_http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

JOBS, OUTPUTS, SIZE = 8, 3, 8 * MB
BOUND_MB = 48  # the archive is 192 MiB: a server that held it, or a good part of it, would go far past this

MAKE_BATCH = """
import json, os, uuid
from django.contrib.sessions.backends.db import SessionStore
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.core.visitors import VISITOR_KEY
from comfyweb.jobs.models import Job, JobOutput
template = WorkflowTemplate.objects.create(title="Big", slug="big-batch", prompt={{}})
session = SessionStore(); session.create(); session[VISITOR_KEY] = session.session_key; session.save()
batch = uuid.uuid4()
for n in range({jobs}):
    job = Job.objects.create(template=template, template_title="Big", session_key=session.session_key,
                             batch=batch, status="succeeded", prompt={{}})
    for index in range({outputs}):
        name = default_storage.save(f"outputs/big/{{job.pk}}-{{index}}.png", ContentFile(os.urandom({size})))
        JobOutput.objects.create(job=job, node_id="9", index=index, file=name, filename=f"{{index}}.png")
print(json.dumps({{"session": session.session_key, "batch": str(batch)}}))
"""


@pytest.mark.parametrize("command", ["serve", "web"])
def test_download_all_of_a_192_mib_batch_keeps_the_web_process_within_48_mib(tmp_path, command):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "EMULATOR_PORT": str(free_port()),
        "REDIS_URL": "",
        "GPU_BACKENDS": "",
        "COMFYUI_URL": "",
        "DEBUG": "0",
    }
    assert manage("migrate", "--noinput", env=env).wait(180) == 0
    script = MAKE_BATCH.format(jobs=JOBS, outputs=OUTPUTS, size=SIZE)
    maker = manage("shell", "-c", script, env=env, stdout=subprocess.PIPE, text=True)
    made = json.loads(maker.communicate(timeout=180)[0].strip().splitlines()[-1])
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    server = manage(command, "--host", "127.0.0.1", "--port", str(port), env=env, stdout=log, stderr=log)
    archive = tmp_path / "all.zip"
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/healthz", process=server)
        with httpx.Client(cookies={"sessionid": made["session"]}, timeout=120, trust_env=False) as client:
            assert client.get(f"{base}/batches/{made['batch']}/").status_code == 200  # warm: pages and sessions
            with peak_rss_growth(server.pid) as growth:
                with client.stream("GET", f"{base}/batches/{made['batch']}/download.zip") as response:
                    assert response.status_code == 200
                    length = int(response.headers["Content-Length"])
                    with archive.open("wb") as out:
                        for number, chunk in enumerate(response.iter_bytes(256 * 1024)):
                            out.write(chunk)
                            if number == 0:
                                time.sleep(2)  # a slow reader: the server must wait, not read ahead
    finally:
        stop(server)
        log.close()
    assert archive.stat().st_size == length > JOBS * OUTPUTS * SIZE
    with zipfile.ZipFile(archive) as opened:
        assert len(opened.namelist()) == JOBS * OUTPUTS
        assert opened.testzip() is None, "every entry reads back with its checksum"
    assert growth.peak_mb < BOUND_MB, f"the web process grew by {growth.peak_mb:.0f} MiB sending a 192 MiB archive"
