"""The shipped workflows/ templates: valid, and accepted (and run) by a ComfyUI-compatible server.

Each template's form is filled as a visitor would (a small generated photo, a gallery pick, the
last option of every select), substituted, its pictures uploaded as the agent does, then posted
to the emulator's /prompt.
"""

from __future__ import annotations

import io
import uuid

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw

from comfyweb.catalog.forms import UPLOAD_SUFFIX, TemplateImageField, build_template_form
from comfyweb.catalog.params import iter_panels, validate_template
from comfyweb.catalog.substitution import substitute
from comfyweb.comfy.client import ComfyClient
from comfyweb.comfy.inputs import materialize_image_inputs
from comfyweb.emulator.inprocess import running_emulator
from tests.catalog.conftest import draft, shipped_templates

SHIPPED = shipped_templates()
CORE = [t for t in SHIPPED if t["slug"] in ("poster-frame", "colour-pop")]


def small_photo() -> bytes:
    image = Image.new("RGB", (360, 480), (235, 210, 190))
    draw = ImageDraw.Draw(image)
    draw.ellipse((120, 80, 240, 200), fill=(120, 80, 60))
    draw.rectangle((100, 210, 260, 480), fill=(40, 70, 140))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def visitor_values(entry: dict) -> dict:
    """What a visitor sends: a photo for each upload, a gallery pick, the last option of each select."""
    template = draft(entry["prompt"], entry["params"])
    data, files = {}, {}
    for name, field in build_template_form(template).fields.items():
        if name.endswith(UPLOAD_SUFFIX):
            continue
        if isinstance(field, TemplateImageField):
            files[name] = SimpleUploadedFile("photo.jpg", small_photo(), "image/jpeg")
        elif getattr(field, "choices", None):
            data[name] = list(field.choices)[-1][0]
        elif field.initial is not None:
            data[name] = str(field.initial)
    form = build_template_form(template, data=data, files=files)
    assert form.is_valid(), form.errors
    return form.cleaned_data


async def accepted(base_url: str, entry: dict) -> tuple[int, dict, dict]:
    prompt, seeds = substitute(entry["prompt"], entry["params"], visitor_values(entry))
    async with ComfyClient(base_url) as comfy:
        await materialize_image_inputs(prompt, comfy)
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(f"{base_url}/prompt", json={"prompt": prompt, "client_id": str(uuid.uuid4())})
    return answer.status_code, answer.json(), seeds


@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e["slug"])
def test_shipped_template_is_valid_and_has_its_cover(entry, settings):
    from django.contrib.staticfiles import finders

    assert validate_template(entry["prompt"], entry["params"]) == []
    assert entry["cover"].startswith(settings.STATIC_URL)
    assert finders.find(entry["cover"][len(settings.STATIC_URL) :])


def test_the_couple_photo_galleries_point_at_shipped_pictures_and_keep_the_seed_urls(templates_sample):
    from django.contrib.staticfiles import finders

    seed_urls = {p["options"][0] for t in templates_sample for p in t["params"] if p.get("options")}
    for entry in [t for t in SHIPPED if t["slug"] in ("couple-photo", "background-swap")]:
        galleries = [p for p in iter_panels(entry["params"]) if p.get("options")]
        assert galleries
        for panel in galleries:
            assert all(finders.find(o.removeprefix("/static/")) for o in panel["options"])
            assert panel["source_options"][0] in seed_urls
            assert len(panel["source_options"]) == len(panel["options"]) == 7


@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e["slug"])
async def test_the_emulator_accepts_every_shipped_template(emulator, entry):
    status, body, seeds = await accepted(emulator.url, entry)
    assert status == 200, body
    assert body.get("node_errors") == {} and body["prompt_id"]
    if entry["prompt"].get("3", {}).get("inputs", {}).get("seed") == -1:
        assert 0 <= seeds["3.seed"] < 2**53


@pytest.mark.parametrize("entry", CORE, ids=lambda e: e["slug"])
async def test_core_image_templates_pass_strict_validation_and_make_a_picture(tmp_path, entry):
    async with running_emulator(strict=True, step_ms=1, output_dir=tmp_path / "out") as strict:
        status, body, _seeds = await accepted(strict.url, entry)
        assert status == 200, body
        prompt, _ = substitute(entry["prompt"], entry["params"], visitor_values(entry))
        async with ComfyClient(strict.url) as comfy:
            await materialize_image_inputs(prompt, comfy)
            result = await comfy.run(prompt, timeout=60)
            assert result.status == "succeeded", result.error
            [output] = result.outputs
            picture = await comfy.view(output["filename"], output["subfolder"], output["type"])
    with Image.open(io.BytesIO(picture)) as made:
        assert made.size in ((768, 1024), (768, 768))
        assert len(made.convert("RGB").getcolors(2**20)) > 2, "the visitor's photo shows in the result"


@pytest.mark.parametrize("entry", CORE, ids=lambda e: e["slug"])
async def test_every_option_of_the_core_templates_is_accepted_by_strict_validation(tmp_path, entry):
    selects = [p for p in entry["params"] if p["type"] == "select"]
    selects += [c for p in entry["params"] if p["type"] == "group" for c in p["children"] if c["type"] == "select"]
    async with running_emulator(strict=True, step_ms=1, output_dir=tmp_path / "out") as strict:
        for panel in selects:
            for option in panel["options"]:
                prompt = {k: {**v, "inputs": dict(v["inputs"])} for k, v in entry["prompt"].items()}
                prompt[panel["id"]]["inputs"][panel["key"]] = option
                status, body, _ = await accepted(strict.url, {**entry, "prompt": prompt})
                assert status == 200, (panel["key"], option, body)
