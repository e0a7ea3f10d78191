"""The progress line speaks the visitor's language; the markup points assistive technology at the right places."""

from __future__ import annotations

import json
import re

import pytest
from django.core.management import call_command
from django.utils import translation

from comfyweb.campaigns.phases import phase_of, phase_rules_json, progress_line
from comfyweb.campaigns.steps import strip_step_marker
from comfyweb.jobs.models import Job


@pytest.mark.parametrize(
    ("class_type", "phase"),
    [
        ("KSampler", "painting"),
        ("KSamplerAdvanced", "painting"),
        ("SamplerCustomAdvanced", "painting"),
        ("VAEDecode", "finishing"),
        ("CheckpointLoaderSimple", "preparing"),
        ("LoadImage", "reading"),
        ("SaveImage", "saving"),
        ("SomeCustomNode", "working"),
    ],
)
def test_node_classes_become_visitor_words(class_type, phase):
    assert phase_of(class_type) == phase


def test_the_progress_line_reads_painting_ten_of_seventeen():
    with translation.override("en"):
        assert progress_line({"current": {"class_type": "KSampler", "value": 10, "max": 17}}) == "Painting · 10/17"
        assert progress_line({"current": {"class_type": "VAEDecode", "value": 0, "max": 0}}) == "Finishing the picture…"
        assert progress_line({"current": None, "percent": 0}) == "Getting ready…", "never a bare 0 %"
    with translation.override("zh-hans"):
        assert progress_line({"current": {"class_type": "KSampler", "value": 10, "max": 17}}) == "绘制中 · 10/17"
        assert json.loads(phase_rules_json())["words"]["painting"] == "绘制中"


def test_the_running_job_page_says_what_is_happening_not_the_node_name(client, db):
    client.get("/")
    session = client.session
    session.save()
    prompt = {"3": {"class_type": "KSampler", "inputs": {}}}
    progress = {"": {"status": "running", "node": "3", "value": 10, "max": 17}, "3": {"value": 10, "max": 17}}
    job = Job.objects.create(
        template_title="T",
        status=Job.Status.RUNNING,
        percent=40,
        session_key=session.session_key,
        prompt=prompt,
        progress=progress,
    )
    html = client.get(f"/jobs/{job.id}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Painting · 10/17" in html and "KSampler" not in html.split("data-phases")[0]
    assert 'aria-live="polite"' in html and html.count("aria-live") == 2, "one status region (+ the viewer's counter)"
    assert 'class="job-preview" data-preview' in html and re.search(r"<img class=\"job-preview\"[^>]* hidden>", html)


def test_step_markers_leave_the_titles():
    assert strip_step_marker("STEP 2 - 选择角色") == "选择角色"
    assert strip_step_marker("第3步：上传背景图") == "上传背景图"
    assert strip_step_marker("Step 1") == "Step 1"
    assert strip_step_marker("Steps") == "Steps"


@pytest.fixture
def demo(db):
    call_command("loaddemo", verbosity=0)


def test_help_texts_and_errors_are_where_aria_describedby_points(client, demo):
    html = client.post("/t/couple-photo/", {"24.text": "x"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    ids = set(re.findall(r' id="([^"]+)"', html))
    described = [d for value in re.findall(r'aria-describedby="([^"]+)"', html) for d in value.split()]
    assert described and all(target in ids for target in described), set(described) - ids
    assert any(d.endswith("_helptext") for d in described) and any(d.endswith("_error") for d in described)


def test_the_language_switcher_is_a_form_with_a_button(client, db):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "data-autosubmit" not in html
    assert re.search(r'<form class="lang"[^>]*>.*<button type="submit"[^>]*>Switch</button>', html, re.S)
