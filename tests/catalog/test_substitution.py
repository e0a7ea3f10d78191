"""Substitution: the visitor's values written into a copy of the prompt, nothing else changed."""

from __future__ import annotations

import base64
import copy
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyweb.catalog.forms import UploadedImage, check_image_bytes
from comfyweb.catalog.substitution import image_input_from_settings, image_to_data_url, substitute
from comfyweb.comfy.prompt import MAX_SEED, randomize_seeds
from tests.catalog.conftest import picture


@pytest.fixture
def photo() -> UploadedImage:
    return check_image_bytes(picture(), "me.jpg")


def decoded(data_url: str) -> bytes:
    header, payload = data_url.split(",", 1)
    assert header.endswith(";base64")
    return base64.b64decode(payload)


def test_the_couple_photo_example(couple_template, photo):
    prompt, params = couple_template["prompt"], couple_template["params"]
    prompt["3"]["inputs"]["seed"] = -1
    before = copy.deepcopy(prompt)
    character = params[1]["options"][3]
    values = {"10.image": photo, "24.text": "a girl with red hair", "11.image": character, "12.image": photo}
    result, seeds = substitute(prompt, params, values, rng=random.Random(7))
    assert prompt == before, "the template's prompt is never modified"
    assert result["10"]["inputs"]["image"].startswith("data:image/jpeg;base64,")
    assert decoded(result["10"]["inputs"]["image"]) == photo.data
    assert result["12"]["inputs"]["image"] == result["10"]["inputs"]["image"]
    assert result["11"]["inputs"]["image"] == character
    assert result["24"]["inputs"]["text"] == "a girl with red hair"
    assert seeds == {"3.seed": result["3"]["inputs"]["seed"]}
    assert 0 <= seeds["3.seed"] <= MAX_SEED < 2**53
    changed = {k for k in before if before[k] != result[k]}
    assert changed == {"3", "10", "11", "12", "24"}
    assert result["13"] == before["13"], "the mask (a URL, not a panel) stays as it was"


def test_a_gallery_choice_of_this_site_becomes_a_data_url(couple_template):
    params = couple_template["params"]
    params[1]["options"] = ["/static/characters/玥瑶.png"]
    result, _seeds = substitute(couple_template["prompt"], params, {"11.image": "/static/characters/玥瑶.png"})
    value = result["11"]["inputs"]["image"]
    assert value.startswith("data:image/png;base64,")
    with open("static/characters/玥瑶.png", "rb") as shipped:
        assert decoded(value) == shipped.read()


def test_site_image_defaults_outside_panels_are_inlined_too(couple_template):
    couple_template["prompt"]["13"]["inputs"]["image"] = "/static/workflows/couple-mask.png"
    result, _seeds = substitute(couple_template["prompt"], couple_template["params"], {})
    assert result["13"]["inputs"]["image"].startswith("data:image/png;base64,")


def test_an_unknown_site_path_is_left_alone():
    assert image_to_data_url("/static/nope.png") == "/static/nope.png"
    assert image_to_data_url("ComfyUI_0001.png") == "ComfyUI_0001.png"


def test_url_mode_gives_urls_the_agent_can_fetch(settings, photo):
    settings.CATALOG_IMAGE_INPUT = "url"
    settings.CATALOG_PUBLIC_URL = "https://comfyweb.example/"
    convert = image_input_from_settings(store=lambda image: "/media/inputs/abc.jpg")
    assert convert("/static/characters/玥瑶.png") == "https://comfyweb.example/static/characters/玥瑶.png"
    assert convert(photo) == "https://comfyweb.example/media/inputs/abc.jpg"
    assert convert("https://cdn.example/x.png") == "https://cdn.example/x.png"
    settings.CATALOG_IMAGE_INPUT = "data_url"
    assert image_input_from_settings()(photo).startswith("data:image/jpeg;base64,")


def test_hidden_panels_and_missing_values_keep_the_prompt(core_prompt, core_params):
    values = {"3.color": 16777215, "4.blend_factor": None, "1.image": ""}
    result, seeds = substitute(core_prompt, core_params, values)
    assert result == core_prompt and seeds == {}


def test_numbers_keep_the_type_of_the_prompt(core_prompt, core_params):
    result, _ = substitute(core_prompt, core_params, {"2.width": 128.0, "4.blend_factor": 1.0})
    assert result["2"]["inputs"]["width"] == 128 and type(result["2"]["inputs"]["width"]) is int
    assert type(result["4"]["inputs"]["blend_factor"]) is float


def test_only_seeds_of_minus_one_are_randomised():
    prompt = {
        "1": {"class_type": "KSampler", "inputs": {"seed": -1, "steps": -1}},
        "2": {"class_type": "KSamplerAdvanced", "inputs": {"noise_seed": -1}},
        "3": {"class_type": "KSampler", "inputs": {"seed": 42}},
        "4": {"class_type": "Other", "inputs": {"seed": ["1", 0]}},
    }
    seeds = randomize_seeds(prompt, rng=random.Random(1))
    assert set(seeds) == {"1.seed", "2.noise_seed"}
    assert prompt["1"]["inputs"]["steps"] == -1 and prompt["3"]["inputs"]["seed"] == 42
    assert prompt["4"]["inputs"]["seed"] == ["1", 0]


def test_each_run_gets_its_own_seed():
    prompt = {"3": {"class_type": "KSampler", "inputs": {"seed": -1}}}
    seen = {substitute(prompt, [], {})[1]["3.seed"] for _ in range(20)}
    assert len(seen) == 20


# --- properties -------------------------------------------------------------------------------

scalars = st.one_of(
    st.integers(-(2**31), 2**31), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20)
)
node_ids = st.integers(1, 30).map(str)


@st.composite
def prompts_and_values(draw):
    """A random API prompt, panels over some of its value inputs, and values for some of those panels."""
    ids = draw(st.lists(node_ids, min_size=1, max_size=8, unique=True))
    prompt = {}
    for node_id in ids:
        inputs = draw(st.dictionaries(st.sampled_from(["a", "b", "seed", "noise_seed", "text"]), scalars, max_size=4))
        if draw(st.booleans()):
            inputs["link"] = [draw(st.sampled_from(ids)), 0]
        prompt[node_id] = {"class_type": draw(st.sampled_from(["KSampler", "CLIPTextEncode", "X"])), "inputs": inputs}
    targets = [(n, k) for n, node in prompt.items() for k, v in node["inputs"].items() if not isinstance(v, list)]
    chosen = draw(st.lists(st.sampled_from(targets), unique=True)) if targets else []
    params, values = [], {}
    for node_id, key in chosen:
        current = prompt[node_id]["inputs"][key]
        kind = "string" if isinstance(current, str) else "number"
        params.append({"type": kind, "id": node_id, "key": key, "hidden": draw(st.booleans())})
        if draw(st.booleans()):
            values[f"{node_id}.{key}"] = draw(st.text(max_size=10) if kind == "string" else st.integers(-5, 5))
    return prompt, params, values


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(prompts_and_values(), st.integers(0, 2**32))
def test_substitution_invariants(case, seed):
    prompt, params, values = case
    before = copy.deepcopy(prompt)
    result, seeds = substitute(prompt, params, values, rng=random.Random(seed))
    assert prompt == before, "the input prompt is untouched"
    assert set(result) == set(prompt), "no node added or removed"
    written = {(p["id"], p["key"]) for p in params if not p["hidden"] and f"{p['id']}.{p['key']}" in values}
    for node_id, node in result.items():
        assert node["class_type"] == prompt[node_id]["class_type"]
        assert set(node["inputs"]) == set(prompt[node_id]["inputs"]), "no input added or removed"
        for key, value in node["inputs"].items():
            old = prompt[node_id]["inputs"][key]
            if (node_id, key) in written:
                expected = values[f"{node_id}.{key}"]
                if expected == -1 and key in ("seed", "noise_seed"):
                    assert f"{node_id}.{key}" in seeds
                else:
                    assert value == expected
                    assert type(value) is type(expected) or isinstance(old, float)
            elif f"{node_id}.{key}" in seeds:
                assert old == -1 and not isinstance(old, bool)
            else:
                assert value == old and type(value) is type(old), "everything else is unchanged"
    for name, chosen in seeds.items():
        node_id, key = name.split(".")
        assert key in ("seed", "noise_seed")
        assert result[node_id]["inputs"][key] == chosen
        assert isinstance(chosen, int) and 0 <= chosen < 2**53
