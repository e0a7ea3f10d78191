"""Moderation and labels: what checking and labelling one image costs on this machine's CPU.

The shipped picture check (NudeNet's ONNX detector on onnxruntime) on photo-like pictures of 512, 1024 and
2048 px (the check reads a copy at most 640 px wide, so the larger sizes add the downscale), after the
detector is loaded once (its load time is its own figure); and the labels every output gets (the visible
label drawn with Pillow, the implicit label written while encoding the PNG). No database, no network: the
functions the web process (photos) and the worker (outputs) call.
"""

from __future__ import annotations

import os
import statistics
import time

from bench.common import scaled
from bench.report import Figure

SIZES = (512, 1024, 2048)
ROUNDS = 20


def picture(side: int, seed: int):
    """A photo-like picture: smooth gradients and shapes (not flat colour, which would flatter the encoders)."""
    from PIL import Image, ImageDraw, ImageFilter

    image = Image.radial_gradient("L").resize((side, side)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for n in range(12):
        x, y = (seed * 97 + n * 131) % side, (seed * 53 + n * 71) % side
        draw.ellipse((x, y, x + side // 5, y + side // 4), fill=((n * 40) % 255, (seed * 30) % 255, 150))
    return image.filter(ImageFilter.GaussianBlur(2))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(scale: float = 1.0) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comfyweb.settings")
    os.environ.setdefault("EMBEDDED_DEV", "1")
    import django

    django.setup()
    from comfyweb.jobs.trust.labels import draw_label
    from comfyweb.jobs.trust.metadata import encode_labelled
    from comfyweb.jobs.trust.nudity import NudeNetCheck
    from comfyweb.jobs.trust.policy import site_policy

    rounds = scaled(ROUNDS, scale, 3)
    check = NudeNetCheck()
    started = time.perf_counter()
    check.detector()
    result: dict = {"load_ms": (time.perf_counter() - started) * 1000, "rounds": rounds, "check_ms": {}}
    for side in SIZES:
        pictures = [picture(side, seed) for seed in range(rounds)]
        check.check_image(pictures[0], stage="output", threshold=0.5)  # warm
        times = []
        for image in pictures:
            started = time.perf_counter()
            check.check_image(image, stage="output", threshold=0.5)
            times.append((time.perf_counter() - started) * 1000)
        result["check_ms"][str(side)] = {"p50": statistics.median(times), "p99": percentile(times, 0.99)}
    label = site_policy().label
    times = []
    for seed in range(rounds):
        image = picture(1024, seed)
        started = time.perf_counter()
        encode_labelled(draw_label(image, label), "PNG", "bench")
        times.append((time.perf_counter() - started) * 1000)
    result["label_png_1024_ms"] = {"p50": statistics.median(times), "p99": percentile(times, 0.99)}
    return result


def figures(result: dict) -> list[Figure]:
    if "error" in result:
        return [Figure.failed("moderation", result)]
    rows = [Figure("moderation: NudeNet detector load (once per process)", f"{result['load_ms']:.0f} ms", "",
                   None, None)]  # fmt: skip
    for side, times in result["check_ms"].items():
        rows.append(
            Figure(
                f"moderation: NudeNet check of one {side} px picture, p50 / p99",
                f"{times['p50']:.0f} / {times['p99']:.0f} ms",
                "",
                None,
                None,
                note=f"{result['rounds']} pictures, CPU (onnxruntime)",
            )
        )
    times = result["label_png_1024_ms"]
    rows.append(
        Figure(
            "labels: visible and implicit label on a 1024 px PNG output, p50 / p99",
            f"{times['p50']:.0f} / {times['p99']:.0f} ms",
            "",
            None,
            None,
            note="Pillow: draw the label, encode the PNG with its metadata",
        )
    )
    return rows
