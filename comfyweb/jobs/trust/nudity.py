"""The shipped picture check: NudeNet's detector (its wheel carries the ONNX model; onnxruntime on the CPU).

`NudeNetCheck` blocks a picture when the detector finds an exposed intimate body part with a score at
least the campaign's threshold (1 never blocks). The detector is anything with NudeNet's
`detect(rgba array) -> [{"class", "score", "box"}]`, so another detector of that shape can stand in.
"""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image, ImageOps

from comfyweb.jobs.trust.moderation import Check, Verdict

EXPOSED = frozenset(
    {"FEMALE_GENITALIA_EXPOSED", "FEMALE_BREAST_EXPOSED", "MALE_GENITALIA_EXPOSED", "ANUS_EXPOSED", "BUTTOCKS_EXPOSED"}
)
MAX_SIDE = 640  # the detector looks at 320 × 320: a larger picture only costs time


def detector_input(image: Image.Image) -> np.ndarray:
    """The picture as NudeNet reads an array: RGBA (it converts RGBA → BGR itself), at most MAX_SIDE.

    Shrunk straight from the photo (no full-size copy on the way): by an integer factor first (`reduce`,
    a box average), then resampled; a third of the CPU of one resample from 2000 px (8 ms, not 18).
    """
    factor = max(image.size) // MAX_SIDE
    if factor >= 2:
        image = image.reduce(factor)
    if max(image.size) > MAX_SIDE:
        image = ImageOps.contain(image, (MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)
    return np.asarray(image.convert("RGBA"))


class NudeNetCheck(Check):
    name = "nudenet"

    def __init__(self, detector=None) -> None:
        self._detector = detector
        self._lock = threading.Lock()

    def detector(self):
        """NudeNet's detector, loaded once (from the model inside the wheel: nothing is downloaded)."""
        with self._lock:
            if self._detector is None:
                from comfyweb.jobs.trust.nudenet_detector import OneThreadDetector

                self._detector = OneThreadDetector()
            return self._detector

    def check_image(self, image: Image.Image, *, stage: str, threshold: float) -> Verdict:
        found = [d for d in self.detector().detect(detector_input(image)) if d.get("class") in EXPOSED]
        score = max((float(d["score"]) for d in found), default=0.0)
        reasons = tuple(f"{d['class']} {float(d['score']):.2f}" for d in found)
        return Verdict(blocked=bool(found) and score >= threshold, score=score, reasons=reasons, check=self.name)
