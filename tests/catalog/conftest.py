"""Shared helpers for the catalog tests: seed templates, pictures, a backend on the emulator."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

WORKFLOWS_DIR = Path(__file__).resolve().parents[2] / "workflows"


def picture(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), color=(200, 120, 40), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format=fmt)
    return out.getvalue()


def shipped_templates() -> list[dict]:
    templates = []
    for path in sorted(WORKFLOWS_DIR.glob("*.json")):
        templates.extend(json.loads(path.read_text(encoding="utf-8")))
    return templates


def draft(prompt: dict, params: list) -> SimpleNamespace:
    """Anything with .prompt and .params is a template for the form builder."""
    return SimpleNamespace(prompt=prompt, params=params)


@pytest.fixture
def couple_template(templates_sample, couple_photo_prompt) -> dict:
    """The seed's 破次元壁合照 with the seed's production prompt (the sample ships an empty one)."""
    entry = copy.deepcopy(templates_sample[0])
    entry["prompt"] = copy.deepcopy(couple_photo_prompt)
    return entry


@pytest.fixture
def background_template(templates_sample, couple_photo_prompt) -> dict:
    entry = copy.deepcopy(templates_sample[1])
    entry["prompt"] = copy.deepcopy(couple_photo_prompt)
    return entry


@pytest.fixture
def core_prompt() -> dict:
    """LoadImage → ImageScale → ImageBlend(EmptyImage) → SaveImage: core nodes only."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "", "upload": "image"}},
        "2": {
            "class_type": "ImageScale",
            "inputs": {"image": ["1", 0], "upscale_method": "bilinear", "width": 256, "height": 256, "crop": "center"},
        },
        "3": {"class_type": "EmptyImage", "inputs": {"width": 256, "height": 256, "batch_size": 1, "color": 255}},
        "4": {
            "class_type": "ImageBlend",
            "inputs": {"image1": ["2", 0], "image2": ["3", 0], "blend_factor": 0.5, "blend_mode": "multiply"},
        },
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "test"}},
    }


@pytest.fixture
def core_params() -> list:
    return [
        {"type": "image", "id": "1", "key": "image", "title": "Photo"},
        {
            "type": "group",
            "title": "Style",
            "children": [
                {"type": "select", "id": "4", "key": "blend_mode", "title": "Mode", "options": ["multiply", "screen"]},
                {
                    "type": "number",
                    "id": "4",
                    "key": "blend_factor",
                    "title": "Strength",
                    "min": 0,
                    "max": 1,
                    "step": 0.1,
                },
                {"type": "number", "id": "2", "key": "width", "title": "Width", "min": 64, "max": 512, "step": 64},
            ],
        },
        {"type": "string", "id": "5", "key": "filename_prefix", "title": "Prefix"},
        {"type": "select", "id": "3", "key": "color", "title": "Tint", "options": [255, 16777215], "hidden": True},
    ]


@pytest.fixture
def emulator_backend(db, emulator_thread):
    """A GpuBackend row (plain ComfyUI kind) pointing at the threaded emulator."""
    from comfyweb.jobs.models import GpuBackend

    return GpuBackend.objects.create(name="emulator", url=emulator_thread.url, kind=GpuBackend.Kind.COMFYUI)
