"""Small UI-format workflows, one per feature of ComfyUI's "Save" format, each with the API prompt that
ComfyUI's page queues for it (worked out by hand from the front end's rules; `make test-comfyui` checks
every one against the real page as well as against `convert_workflow`).

Core nodes only, so the CPU ComfyUI of the contract suite has them all.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field


@dataclass
class UiCase:
    name: str
    workflow: dict
    prompt: dict
    groups: dict[str, list[str]] = field(default_factory=dict)  # group title → prompt ids inside it


class Builder:
    """Writes the "Save" format as ComfyUI 0.3.75's page does (version 0.4, links as arrays)."""

    def __init__(self) -> None:
        self.nodes: list[dict] = []
        self.links: list[list] = []
        self.groups: list[dict] = []
        self.subgraphs: list[dict] = []

    def node(self, node_id, node_type, widgets=None, *, title=None, mode=0, pos=(0, 0), properties=None) -> dict:
        node = {
            "id": node_id,
            "type": node_type,
            "pos": list(pos),
            "size": [200, 100],
            "flags": {},
            "order": len(self.nodes),
            "mode": mode,
            "inputs": [],
            "outputs": [],
            "properties": {"Node name for S&R": node_type, **(properties or {})},
        }
        if widgets is not None:
            node["widgets_values"] = widgets
        if title:
            node["title"] = title
        self.nodes.append(node)
        return node

    def _find(self, node_id) -> dict:
        return next(n for n in self.nodes if n["id"] == node_id)

    def link(self, origin, origin_slot, target, input_name, kind, *, widget=False, output_name=None) -> int:
        link_id = len(self.links) + 1
        origin_node, target_node = self._find(origin), self._find(target)
        outputs = origin_node["outputs"]
        while len(outputs) <= origin_slot:
            outputs.append({"name": output_name or kind, "type": kind, "links": []})
        outputs[origin_slot]["links"].append(link_id)
        entry = {"name": input_name, "type": kind, "link": link_id}
        if widget:
            entry["widget"] = {"name": input_name}
        target_node["inputs"].append(entry)
        self.links.append([link_id, origin, origin_slot, target, len(target_node["inputs"]) - 1, kind])
        return link_id

    def group(self, title, x, y, w, h) -> None:
        self.groups.append({"id": len(self.groups) + 1, "title": title, "bounding": [x, y, w, h], "flags": {}})

    def build(self) -> dict:
        workflow = {
            "id": "00000000-0000-4000-8000-000000000000",
            "revision": 0,
            "last_node_id": max((n["id"] for n in self.nodes), default=0),
            "last_link_id": len(self.links),
            "nodes": self.nodes,
            "links": self.links,
            "groups": self.groups,
            "config": {},
            "extra": {},
            "version": 0.4,
        }
        if self.subgraphs:
            workflow["definitions"] = {"subgraphs": self.subgraphs}
        return copy.deepcopy(workflow)


def subgraph(sg_id, name, inputs, outputs, nodes, links) -> dict:
    """A subgraph definition: `inputs`/`outputs` are (name, type, [link ids]); links are dicts."""
    return {
        "id": sg_id,
        "version": 1,
        "state": {"lastGroupId": 0, "lastNodeId": 10, "lastLinkId": 100, "lastRerouteId": 0},
        "revision": 0,
        "config": {},
        "name": name,
        "inputNode": {"id": -10, "bounding": [0, 0, 120, 60]},
        "outputNode": {"id": -20, "bounding": [800, 0, 120, 60]},
        "inputs": [
            {"id": f"{sg_id[:8]}-in-{i}", "name": n, "type": t, "linkIds": ids, "pos": [100, 20 * i]}
            for i, (n, t, ids) in enumerate(inputs)
        ],
        "outputs": [
            {"id": f"{sg_id[:8]}-out-{i}", "name": n, "type": t, "linkIds": ids, "pos": [820, 20 * i]}
            for i, (n, t, ids) in enumerate(outputs)
        ],
        "widgets": [],
        "nodes": nodes,
        "groups": [],
        "links": links,
        "extra": {},
    }


def _meta(title: str) -> dict:
    return {"title": title}


def txt2img() -> UiCase:
    """The classic graph, two groups, renamed nodes, a fixed seed with its control_after_generate slot."""
    b = Builder()
    b.node(4, "CheckpointLoaderSimple", ["sd15.safetensors"], pos=(0, 0))
    b.node(6, "CLIPTextEncode", ["a lighthouse at dusk, oil painting"], title="Positive", pos=(400, 0))
    b.node(7, "CLIPTextEncode", ["blurry, text"], title="Negative", pos=(400, 300))
    b.node(5, "EmptyLatentImage", [512, 768, 1], pos=(400, 600))
    b.node(3, "KSampler", [42, "fixed", 20, 7.5, "euler", "normal", 1], pos=(900, 0))
    b.node(8, "VAEDecode", pos=(1300, 0))
    b.node(9, "SaveImage", ["lighthouse"], pos=(1600, 0))
    b.link(4, 0, 3, "model", "MODEL")
    b.link(4, 1, 6, "clip", "CLIP")
    b.link(4, 1, 7, "clip", "CLIP")
    b.link(6, 0, 3, "positive", "CONDITIONING")
    b.link(7, 0, 3, "negative", "CONDITIONING")
    b.link(5, 0, 3, "latent_image", "LATENT")
    b.link(3, 0, 8, "samples", "LATENT")
    b.link(4, 2, 8, "vae", "VAE")
    b.link(8, 0, 9, "images", "IMAGE")
    b.group("Describe the picture", 380, -40, 400, 560)
    b.group("Size", 380, 560, 400, 200)
    prompt = {
        "4": {"inputs": {"ckpt_name": "sd15.safetensors"}, "class_type": "CheckpointLoaderSimple"},
        "6": {
            "inputs": {"text": "a lighthouse at dusk, oil painting", "clip": ["4", 1]},
            "class_type": "CLIPTextEncode",
        },
        "7": {"inputs": {"text": "blurry, text", "clip": ["4", 1]}, "class_type": "CLIPTextEncode"},
        "5": {"inputs": {"width": 512, "height": 768, "batch_size": 1}, "class_type": "EmptyLatentImage"},
        "3": {
            "inputs": {
                "seed": 42,
                "steps": 20,
                "cfg": 7.5,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
            "class_type": "KSampler",
        },
        "8": {"inputs": {"samples": ["3", 0], "vae": ["4", 2]}, "class_type": "VAEDecode"},
        "9": {"inputs": {"filename_prefix": "lighthouse", "images": ["8", 0]}, "class_type": "SaveImage"},
    }
    titles = {
        "4": "Load Checkpoint",
        "6": "Positive",
        "7": "Negative",
        "5": "Empty Latent Image",
        "3": "KSampler",
        "8": "VAE Decode",
        "9": "Save Image",
    }
    for node_id, title in titles.items():
        prompt[node_id]["_meta"] = _meta(title)
    return UiCase("txt2img", b.build(), prompt, {"Describe the picture": ["6", "7"], "Size": ["5"]})


def muted_and_bypassed() -> UiCase:
    """Muted nodes vanish with the inputs they fed; bypassed ones hand over their matching input."""
    b = Builder()
    b.node(1, "LoadImage", ["photo.png", "image"])
    b.node(2, "ImageInvert", mode=4)  # bypassed: IMAGE in → IMAGE out
    b.node(3, "ImageScale", ["bilinear", 256, 256, "center"])
    b.node(4, "SaveImage", ["kept"])
    b.node(5, "PreviewImage", mode=2)  # muted output node
    b.node(6, "ImageInvert", mode=2)  # muted: SaveImage 7 loses its images input
    b.node(7, "SaveImage", ["orphan"])
    b.node(8, "EmptyLatentImage", [64, 64, 1])
    b.node(9, "VAEDecode", mode=4)  # bypassed, but nothing of type IMAGE comes in: the input goes
    b.node(10, "SaveImage", ["no-image"])
    b.link(1, 0, 2, "image", "IMAGE")
    b.link(2, 0, 3, "image", "IMAGE")
    b.link(3, 0, 4, "images", "IMAGE")
    b.link(3, 0, 5, "images", "IMAGE")
    b.link(1, 0, 6, "image", "IMAGE")
    b.link(6, 0, 7, "images", "IMAGE")
    b.link(8, 0, 9, "samples", "LATENT")
    b.link(9, 0, 10, "images", "IMAGE")
    prompt = {
        "1": {"inputs": {"image": "photo.png"}, "class_type": "LoadImage", "_meta": _meta("Load Image")},
        "3": {
            "inputs": {"upscale_method": "bilinear", "width": 256, "height": 256, "crop": "center", "image": ["1", 0]},
            "class_type": "ImageScale",
            "_meta": _meta("Upscale Image"),
        },
        "4": {"inputs": {"filename_prefix": "kept", "images": ["3", 0]}, "class_type": "SaveImage"},
        "7": {"inputs": {"filename_prefix": "orphan"}, "class_type": "SaveImage"},
        "8": {"inputs": {"width": 64, "height": 64, "batch_size": 1}, "class_type": "EmptyLatentImage"},
        "10": {"inputs": {"filename_prefix": "no-image"}, "class_type": "SaveImage"},
    }
    for node_id in ("4", "7", "10"):
        prompt[node_id]["_meta"] = _meta("Save Image")
    prompt["8"]["_meta"] = _meta("Empty Latent Image")
    return UiCase("muted_and_bypassed", b.build(), prompt)


def reroutes_and_primitives() -> UiCase:
    """Reroute chains are followed; primitive nodes write their value into the widgets they feed, rounded
    as the target widget rounds (an INT snaps to its step), with their own control_after_generate slot."""
    b = Builder()
    b.node(1, "LoadImage", ["photo.png", "image"])
    b.node(10, "Reroute")
    b.node(11, "Reroute")
    b.node(2, "ImageScale", ["nearest-exact", 512, 512, "disabled"])
    b.node(3, "SaveImage", ["unused"])
    b.node(20, "PrimitiveNode", [300.4, "fixed"], title="Width")
    b.node(21, "PrimitiveNode", ["from-a-primitive"], title="File name")
    b.node(22, "EmptyImage", [64, 64, 1, 0])
    b.node(23, "PreviewImage")
    b.link(1, 0, 10, "", "*")
    b.link(10, 0, 11, "", "*")
    b.link(11, 0, 2, "image", "IMAGE")
    b.link(2, 0, 3, "images", "IMAGE")
    b.link(20, 0, 2, "width", "INT", widget=True, output_name="INT")
    b.link(20, 0, 22, "width", "INT", widget=True)
    b.link(21, 0, 3, "filename_prefix", "STRING", widget=True, output_name="STRING")
    b.link(22, 0, 23, "images", "IMAGE")
    prompt = {
        "1": {"inputs": {"image": "photo.png"}, "class_type": "LoadImage", "_meta": _meta("Load Image")},
        "2": {
            "inputs": {
                "upscale_method": "nearest-exact",
                "width": 300,
                "height": 512,
                "crop": "disabled",
                "image": ["1", 0],
            },
            "class_type": "ImageScale",
            "_meta": _meta("Upscale Image"),
        },
        "3": {
            "inputs": {"filename_prefix": "from-a-primitive", "images": ["2", 0]},
            "class_type": "SaveImage",
            "_meta": _meta("Save Image"),
        },
        "22": {
            "inputs": {"width": 300, "height": 64, "batch_size": 1, "color": 0},
            "class_type": "EmptyImage",
            "_meta": _meta("EmptyImage"),
        },
        "23": {"inputs": {"images": ["22", 0]}, "class_type": "PreviewImage", "_meta": _meta("Preview Image")},
    }
    return UiCase("reroutes_and_primitives", b.build(), prompt)


INVERT_SCALE = "1d6a1c3e-0000-4000-8000-00000000a001"


def subgraphs() -> UiCase:
    """A subgraph used twice: inner ids are prefixed with the instance's id, each instance keeps its own
    value of the promoted `width` widget; a group around an instance holds its inner nodes."""
    b = Builder()
    inner = [
        {
            "id": 1,
            "type": "ImageInvert",
            "pos": [200, 0],
            "mode": 0,
            "inputs": [{"name": "image", "type": "IMAGE", "link": 1}],
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2]}],
            "properties": {},
        },
        {
            "id": 2,
            "type": "ImageScale",
            "pos": [500, 0],
            "mode": 0,
            "inputs": [
                {"name": "image", "type": "IMAGE", "link": 2},
                {"name": "width", "type": "INT", "widget": {"name": "width"}, "link": 3},
            ],
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [4]}],
            "properties": {},
            "widgets_values": ["bilinear", 64, 128, "disabled"],
        },
    ]
    links = [
        {"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0, "type": "IMAGE"},
        {"id": 2, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "IMAGE"},
        {"id": 3, "origin_id": -10, "origin_slot": 1, "target_id": 2, "target_slot": 1, "type": "INT"},
        {"id": 4, "origin_id": 2, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "IMAGE"},
    ]
    b.subgraphs.append(
        subgraph(
            INVERT_SCALE,
            "Invert and scale",
            [("image", "IMAGE", [1]), ("width", "INT", [3])],
            [("IMAGE", "IMAGE", [4])],
            inner,
            links,
        )
    )
    b.node(1, "LoadImage", ["photo.png", "image"], pos=(0, 0))
    big = b.node(5, INVERT_SCALE, [512], title="Big", pos=(400, 0))
    small = b.node(7, INVERT_SCALE, [256], pos=(400, 400))
    for instance in (big, small):
        instance["inputs"] = []
    b.node(6, "SaveImage", ["big"], pos=(800, 0))
    b.node(8, "PreviewImage", pos=(800, 400))
    b.link(1, 0, 5, "image", "IMAGE")
    big["inputs"].append({"name": "width", "type": "INT", "widget": {"name": "width"}, "link": None})
    b.link(5, 0, 6, "images", "IMAGE")
    b.link(1, 0, 7, "image", "IMAGE")
    small["inputs"].append({"name": "width", "type": "INT", "widget": {"name": "width"}, "link": None})
    b.link(7, 0, 8, "images", "IMAGE")
    b.group("Big one", 380, -40, 300, 300)

    def scaled(instance: str, width: int) -> dict:
        return {
            f"{instance}:1": {
                "inputs": {"image": ["1", 0]},
                "class_type": "ImageInvert",
                "_meta": _meta("Invert Image"),
            },
            f"{instance}:2": {
                "inputs": {
                    "upscale_method": "bilinear",
                    "width": width,
                    "height": 128,
                    "crop": "disabled",
                    "image": [f"{instance}:1", 0],
                },
                "class_type": "ImageScale",
                "_meta": _meta("Upscale Image"),
            },
        }

    prompt = {
        "1": {"inputs": {"image": "photo.png"}, "class_type": "LoadImage", "_meta": _meta("Load Image")},
        **scaled("5", 512),
        **scaled("7", 256),
        "6": {"inputs": {"filename_prefix": "big", "images": ["5:2", 0]}, "class_type": "SaveImage"},
        "8": {"inputs": {"images": ["7:2", 0]}, "class_type": "PreviewImage", "_meta": _meta("Preview Image")},
    }
    prompt["6"]["_meta"] = _meta("Save Image")
    return UiCase("subgraphs", b.build(), prompt, {"Big one": ["5:1", "5:2"]})


OUTER = "1d6a1c3e-0000-4000-8000-00000000b001"
INNER = "1d6a1c3e-0000-4000-8000-00000000b002"


def nested_subgraphs() -> UiCase:
    """A subgraph inside a subgraph: ids get one prefix per level; a bypassed node inside is skipped."""
    b = Builder()
    inner_nodes = [
        {
            "id": 1,
            "type": "ImageInvert",
            "pos": [0, 0],
            "mode": 0,
            "inputs": [{"name": "image", "type": "IMAGE", "link": 11}],
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [12]}],
            "properties": {},
        }
    ]
    inner_links = [
        {"id": 11, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0, "type": "IMAGE"},
        {"id": 12, "origin_id": 1, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "IMAGE"},
    ]
    outer_nodes = [
        {
            "id": 3,
            "type": INNER,
            "pos": [0, 0],
            "mode": 0,
            "inputs": [{"name": "image", "type": "IMAGE", "link": 21}],
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [22]}],
            "properties": {},
            "widgets_values": [],
        },
        {
            "id": 4,
            "type": "ImageInvert",
            "pos": [300, 0],
            "mode": 4,
            "inputs": [{"name": "image", "type": "IMAGE", "link": 22}],
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [23]}],
            "properties": {},
        },
    ]
    outer_links = [
        {"id": 21, "origin_id": -10, "origin_slot": 0, "target_id": 3, "target_slot": 0, "type": "IMAGE"},
        {"id": 22, "origin_id": 3, "origin_slot": 0, "target_id": 4, "target_slot": 0, "type": "IMAGE"},
        {"id": 23, "origin_id": 4, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "IMAGE"},
    ]
    b.subgraphs.append(
        subgraph(OUTER, "Outer", [("image", "IMAGE", [21])], [("IMAGE", "IMAGE", [23])], outer_nodes, outer_links)
    )
    b.subgraphs.append(
        subgraph(INNER, "Inner", [("image", "IMAGE", [11])], [("IMAGE", "IMAGE", [12])], inner_nodes, inner_links)
    )
    b.node(1, "LoadImage", ["photo.png", "image"])
    b.node(9, OUTER, [])
    b.node(2, "SaveImage", ["nested"])
    b.link(1, 0, 9, "image", "IMAGE")
    b.link(9, 0, 2, "images", "IMAGE")
    prompt = {
        "1": {"inputs": {"image": "photo.png"}, "class_type": "LoadImage", "_meta": _meta("Load Image")},
        "9:3:1": {"inputs": {"image": ["1", 0]}, "class_type": "ImageInvert", "_meta": _meta("Invert Image")},
        "2": {"inputs": {"filename_prefix": "nested", "images": ["9:3:1", 0]}, "class_type": "SaveImage"},
    }
    prompt["2"]["_meta"] = _meta("Save Image")
    return UiCase("nested_subgraphs", b.build(), prompt)


def texts() -> UiCase:
    """Dynamic-prompt texts lose comments and take a choice; save nodes replace %Node.widget%; an old
    file's value for an input that is a socket now (forceInput) is dropped; "sample_" sampler names."""
    b = Builder()
    b.node(4, "CheckpointLoaderSimple", ["sd15.safetensors"])
    b.node(6, "CLIPTextEncode", ["a {red|blue} fox // not sent\nin snow/* nor this */"], title="Subject")
    b.node(5, "EmptyLatentImage", [512, 512, 1])
    b.node(3, "KSamplerAdvanced", ["enable", 7, "randomize", 25, 6, "sample_euler", "karras", 0, 10000, "disable"])
    b.node(8, "VAEDecode")
    b.node(9, "SaveImage", ["%Subject.text%/%KSamplerAdvanced.steps%-steps"])
    b.link(4, 1, 6, "clip", "CLIP")
    b.link(4, 0, 3, "model", "MODEL")
    b.link(6, 0, 3, "positive", "CONDITIONING")
    b.link(6, 0, 3, "negative", "CONDITIONING")
    b.link(5, 0, 3, "latent_image", "LATENT")
    b.link(3, 0, 8, "samples", "LATENT")
    b.link(4, 2, 8, "vae", "VAE")
    b.link(8, 0, 9, "images", "IMAGE")
    b.node(12, "KlingVideoExtendNode", ["a cat", "a dog", 0.5, "saved-before-1.16"])
    prompt = {
        "12": {
            "inputs": {"prompt": "a cat", "negative_prompt": "a dog", "cfg_scale": 0.5},
            "class_type": "KlingVideoExtendNode",
            "_meta": _meta("Kling Video Extend"),
        },
        "4": {
            "inputs": {"ckpt_name": "sd15.safetensors"},
            "class_type": "CheckpointLoaderSimple",
            "_meta": _meta("Load Checkpoint"),
        },
        "6": {
            "inputs": {"text": "a red fox \nin snow", "clip": ["4", 1]},
            "class_type": "CLIPTextEncode",
            "_meta": _meta("Subject"),
        },
        "5": {
            "inputs": {"width": 512, "height": 512, "batch_size": 1},
            "class_type": "EmptyLatentImage",
            "_meta": _meta("Empty Latent Image"),
        },
        "3": {
            "inputs": {
                "add_noise": "enable",
                "noise_seed": 7,
                "steps": 25,
                "cfg": 6,
                "sampler_name": "euler",
                "scheduler": "karras",
                "start_at_step": 0,
                "end_at_step": 10000,
                "return_with_leftover_noise": "disable",
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["6", 0],
                "latent_image": ["5", 0],
            },
            "class_type": "KSamplerAdvanced",
            "_meta": _meta("KSampler (Advanced)"),
        },
        "8": {
            "inputs": {"samples": ["3", 0], "vae": ["4", 2]},
            "class_type": "VAEDecode",
            "_meta": _meta("VAE Decode"),
        },
        "9": {
            "inputs": {
                "filename_prefix": "a {red_blue} fox __ not sent_in snow__ nor this __/25-steps",
                "images": ["8", 0],
            },
            "class_type": "SaveImage",
            "_meta": _meta("Save Image"),
        },
    }
    return UiCase("texts", b.build(), prompt)


def primitive_float() -> UiCase:
    """A FLOAT fed by a primitive is rounded like the widget rounds it: to its `round`, then to the decimals
    of its step (cfg: round 0.01, step 0.1 → 7.55 becomes 7.5, as 7.55 is 7.5499… in binary)."""
    b = Builder()
    b.node(5, "EmptyLatentImage", [512, 512, 1])
    b.node(3, "KSampler", [5, "fixed", 12, 8, "euler", "normal", 1])
    b.node(20, "PrimitiveNode", [7.55, "fixed"], title="Guidance")
    b.link(5, 0, 3, "latent_image", "LATENT")
    b.link(20, 0, 3, "cfg", "FLOAT", widget=True, output_name="FLOAT")
    prompt = {
        "5": {
            "inputs": {"width": 512, "height": 512, "batch_size": 1},
            "class_type": "EmptyLatentImage",
            "_meta": _meta("Empty Latent Image"),
        },
        "3": {
            "inputs": {
                "seed": 5,
                "steps": 12,
                "cfg": 7.5,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1,
                "latent_image": ["5", 0],
            },
            "class_type": "KSampler",
            "_meta": _meta("KSampler"),
        },
    }
    return UiCase("primitive_float", b.build(), prompt)


def number_forms() -> UiCase:
    """Numbers go out as JavaScript writes them: an integral float as an integer (`8.0` → `8`, `-0.0` → `0`,
    `1e16` in full), an integer beyond 2**53 in the digits JavaScript writes for the double nearest to it."""
    b = Builder()
    b.node(5, "EmptyLatentImage", [512.0, 768.0, 1.0])
    b.node(3, "KSampler", [1152921504606846977, "fixed", 20.0, 8.0, "euler", "normal", 1.0])
    b.node(10, "EmptyImage", [1e16, 64.0, 1, -0.0])
    b.node(11, "PreviewImage")
    b.link(5, 0, 3, "latent_image", "LATENT")
    b.link(10, 0, 11, "images", "IMAGE")
    prompt = {
        "3": {
            "inputs": {
                "seed": 1152921504606847000,
                "steps": 20,
                "cfg": 8,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1,
                "latent_image": ["5", 0],
            },
            "class_type": "KSampler",
            "_meta": _meta("KSampler"),
        },
        "5": {
            "inputs": {"width": 512, "height": 768, "batch_size": 1},
            "class_type": "EmptyLatentImage",
            "_meta": _meta("Empty Latent Image"),
        },
        "10": {
            "inputs": {"width": 10000000000000000, "height": 64, "batch_size": 1, "color": 0},
            "class_type": "EmptyImage",
            "_meta": _meta("EmptyImage"),
        },
        "11": {"inputs": {"images": ["10", 0]}, "class_type": "PreviewImage", "_meta": _meta("Preview Image")},
    }
    return UiCase("number_forms", b.build(), prompt)


def all_cases() -> list[UiCase]:
    return [
        txt2img(),
        muted_and_bypassed(),
        reroutes_and_primitives(),
        subgraphs(),
        nested_subgraphs(),
        texts(),
        primitive_float(),
        number_forms(),
    ]
