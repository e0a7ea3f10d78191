"""Small API-format prompts the suites share (the emulator and a CPU ComfyUI run them)."""

import random

SAMPLER_WORKFLOW = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "any.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 48, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
    "3": {"class_type": "KSampler", "inputs": {"seed": 7, "steps": 6, "cfg": 7.0, "sampler_name": "euler",
          "scheduler": "normal", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0], "negative": ["6", 0],
          "latent_image": ["5", 0]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "gen"}},
}  # fmt: skip

# EmptyImage → ImageInvert → SaveImage: core nodes only, so a model-less CPU ComfyUI runs it too.
CORE_WORKFLOW = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 24, "batch_size": 1, "color": 255}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "core"}},
}


def fresh_core_workflow(side: int = 32) -> dict:
    """CORE_WORKFLOW at `side`×`side` in a colour drawn at random: ComfyUI runs it instead of answering from its
    cache (a cached run ends in one burst of messages, with no change in between to report)."""
    prompt = {node_id: {**node, "inputs": dict(node["inputs"])} for node_id, node in CORE_WORKFLOW.items()}
    prompt["1"]["inputs"].update(width=side, height=side, color=random.SystemRandom().randrange(0x1000000))
    return prompt


def sampler_workflow(steps: int = 6, seed: int = 7) -> dict:
    """SAMPLER_WORKFLOW with another step count or seed (a longer run to interrupt or watch)."""
    prompt = {node_id: {**node, "inputs": dict(node["inputs"])} for node_id, node in SAMPLER_WORKFLOW.items()}
    prompt["3"]["inputs"].update(steps=steps, seed=seed)
    return prompt
