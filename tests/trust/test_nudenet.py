"""The shipped picture check: NudeNet's detector loads from its wheel (offline) and answers on a benign picture;
it is the site's default check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from comfyweb.jobs.trust.nudity import EXPOSED, NudeNetCheck, detector_input
from tests.trust.checks import MarkerDetector

ROOT = Path(__file__).resolve().parents[2]


def landscape() -> Image.Image:
    image = Image.new("RGB", (900, 600), (120, 180, 235))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 380, 900, 600), fill=(60, 140, 70))
    draw.ellipse((650, 60, 780, 190), fill=(250, 220, 90))
    draw.polygon([(100, 380), (300, 150), (500, 380)], fill=(110, 110, 120))
    return image


def test_nudenet_loads_its_model_from_the_wheel_and_passes_a_landscape():
    import nudenet

    check = NudeNetCheck()
    detector = check.detector()
    model = Path(nudenet.__file__).parent / "320n.onnx"
    assert model.is_file(), "the ONNX model ships inside the wheel: nothing is downloaded"
    assert detector.input_width == 320 and detector.onnx_session.get_inputs()[0].name
    verdict = check.check_image(landscape(), stage="output", threshold=0.5)
    assert verdict.blocked is False and verdict.check == "nudenet"
    assert not any(reason.split()[0] in EXPOSED for reason in verdict.reasons)
    assert check.detector() is detector, "loaded once per process"


def test_the_detector_sees_a_small_rgba_copy(monkeypatch):
    photo = landscape()
    size = photo.size
    monkeypatch.setattr(Image.Image, "copy", lambda self: pytest.fail("the full-size photo was copied"))
    array = detector_input(photo)
    assert array.shape == (427, 640, 4)
    assert photo.size == size, "the photo itself is left as it was"


def test_the_threshold_decides_on_the_detectors_scores():
    check = NudeNetCheck(detector=MarkerDetector())
    flagged = Image.new("RGB", (50, 50), (255, 0, 255))
    assert check.check_image(flagged, stage="input", threshold=0.5).blocked
    assert not check.check_image(flagged, stage="input", threshold=1.0).blocked
    assert not check.check_image(landscape(), stage="input", threshold=0.1).blocked, "faces are not blocked"


def test_nudenet_and_the_word_lists_are_the_sites_default_checks():
    env = {key: value for key, value in os.environ.items() if key != "MODERATION_CHECKS"}
    code = "import django; django.setup(); from django.conf import settings; print(settings.MODERATION_CHECKS)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "comfyweb.settings"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "comfyweb.jobs.trust.nudity.NudeNetCheck" in done.stdout
    assert "comfyweb.jobs.trust.words.WordListCheck" in done.stdout


def test_the_detector_runs_on_one_thread_and_answers_as_nudenets_own():
    from nudenet import NudeDetector

    from comfyweb.jobs.trust.nudenet_detector import OneThreadDetector

    ours, theirs = OneThreadDetector(), NudeDetector()
    options = ours.onnx_session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert theirs.onnx_session.get_session_options().intra_op_num_threads != 1  # what NudeNet would have used
    picture = detector_input(landscape())
    blob = np.random.default_rng(22).random((1, 3, 320, 320), dtype=np.float32)
    assert np.allclose(
        ours.onnx_session.run(None, {ours.input_name: blob})[0],
        theirs.onnx_session.run(None, {theirs.input_name: blob})[0],
        atol=1e-4,
    )
    assert ours.detect(picture) == theirs.detect(picture)


def test_a_phone_photo_reaches_the_detector_reduced_then_resampled(monkeypatch):
    photo = Image.new("RGB", (2000, 1500), (200, 160, 120))
    resampled: list[tuple[int, int]] = []
    resize = Image.Image.resize
    monkeypatch.setattr(
        Image.Image, "resize", lambda self, size, *a, **k: resampled.append(self.size) or resize(self, size, *a, **k)
    )
    assert detector_input(photo).shape == (480, 640, 4)
    assert resampled == [(667, 500)], "resampled from the reduced picture, not from the photo"
