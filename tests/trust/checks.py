"""A stand-in for NudeNet's detector, so tests have a picture that is flagged and one that is not.

NudeNet's model cannot be made to flag a picture we could ship or draw honestly; `MarkerDetector` has its
`detect(rgba) -> [{"class", "score", "box"}]` shape and reports an "exposed" part where a picture is
pure magenta (#ff00ff), scored by the share of such pixels. `MarkerCheck` is NudeNet's own check class
with this detector: everything but the model is the shipped code. Importable by the processes the
browser tests start (MODERATION_CHECKS=tests.trust.checks.MarkerCheck).
"""

from __future__ import annotations

import numpy as np

from comfyweb.jobs.trust.nudity import NudeNetCheck

MAGENTA = (255, 0, 255)
MAGENTA_INT = 0xFF00FF  # the emulator's EmptyImage colour


class MarkerDetector:
    calls = 0

    def detect(self, rgba: np.ndarray) -> list[dict]:
        type(self).calls += 1
        assert rgba.ndim == 3 and rgba.shape[2] == 4, "NudeNet reads an RGBA array"
        rgb = rgba[:, :, :3].astype(int)
        marker = (np.abs(rgb - np.array(MAGENTA)).sum(axis=2) < 30).mean()
        if marker < 0.05:
            return [{"class": "FACE_FEMALE", "score": 0.9, "box": [0, 0, 1, 1]}]  # found, but nothing to block
        return [{"class": "FEMALE_BREAST_EXPOSED", "score": float(min(0.99, marker)), "box": [0, 0, 1, 1]}]


class MarkerCheck(NudeNetCheck):
    name = "marker"

    def __init__(self) -> None:
        super().__init__(detector=MarkerDetector())


class BrokenCheck(NudeNetCheck):
    """A check whose service is down: every call raises."""

    name = "broken"

    def check_image(self, image, *, stage, threshold):
        raise ConnectionError("moderation service unreachable")

    def check_text(self, text, *, stage):
        raise ConnectionError("moderation service unreachable")
