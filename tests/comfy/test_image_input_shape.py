"""The shape a workflow gives an image input (the form's photo editor offers to crop to it)."""

from __future__ import annotations

from comfyweb.comfy.prompt import image_input_shape


def scale(source: str, width, height, **extra) -> dict:
    return {"class_type": "ImageScale", "inputs": {"image": [source, 0], "width": width, "height": height, **extra}}


def test_the_first_node_fed_by_the_image_that_names_a_width_and_height_gives_the_shape():
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": ""}},
        "2": scale("1", 640, 800, crop="center"),
        "7": scale("1", 100, 100),
    }
    assert image_input_shape(prompt, "1") == (640, 800)


def test_no_shape_when_nothing_fed_by_the_image_names_one():
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": ""}},
        "2": {"class_type": "IPAdapter", "inputs": {"image": ["1", 0], "weight": 1}},
        "3": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512}},  # not fed by the image
        "4": scale("1", 640, 800) | {"inputs": {"image": ["1", 1], "width": 640, "height": 800}},  # the mask slot
    }
    assert image_input_shape(prompt, "1") is None


def test_sizes_that_are_links_zero_or_not_numbers_give_no_shape():
    for width, height in ((["9", 0], 800), (0, 800), ("640", 800), (True, 800), (640.5, 800)):
        prompt = {"1": {"class_type": "LoadImage", "inputs": {}}, "2": scale("1", width, height)}
        assert image_input_shape(prompt, "1") is None, (width, height)


def test_integer_node_ids_in_links_are_matched():
    prompt = {"10": {"class_type": "LoadImage", "inputs": {}}, "11": scale(10, 768, 768)}
    assert image_input_shape(prompt, "10") == (768, 768)
