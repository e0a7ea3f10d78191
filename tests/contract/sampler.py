"""The sampler workflows the real-ComfyUI suites run with the random-weight checkpoint (make_checkpoint.py).

Every workflow is SD1.x txt2img at 64×64: CheckpointLoaderSimple → CLIPTextEncode (positive, negative) +
EmptyLatentImage → KSampler → VAEDecode → SaveImage. The checkpoint's UNet is small (see
make_checkpoint.py), so a step takes a few hundredths of a second on the CPU.

ComfyUI caches every node whose inputs did not change since the prompt before, so a test that needs the
sampler to run gives it a seed no earlier prompt used (`fresh_seed`).
"""

from __future__ import annotations

import itertools
import random

from tests.contract.make_checkpoint import CHECKPOINT_NAME

CHECKPOINT = CHECKPOINT_NAME
SAMPLER_NODE = "3"
SAVE_NODE = "9"
DECODE_NODE = "8"
SIZE = 64

_seeds = itertools.count(random.randrange(1, 2**40))


def fresh_seed() -> int:
    """A seed no other prompt of this test run used (the real server's cache lives across tests)."""
    return next(_seeds) * 7919 % 2**48


def txt2img(
    *,
    seed: int | None = None,
    steps: int = 3,
    text: str = "a lighthouse at dusk",
    prefix: str = "sampler",
    checkpoint: str = CHECKPOINT,
    width: int = SIZE,
    height: int = SIZE,
) -> dict:
    """An SD1.x txt2img API-format prompt; KSampler is node "3", SaveImage node "9"."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry, low quality", "clip": ["4", 1]}},
        SAMPLER_NODE: {
            "class_type": "KSampler",
            "inputs": {
                "seed": fresh_seed() if seed is None else seed,
                "steps": steps,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        DECODE_NODE: {"class_type": "VAEDecode", "inputs": {"samples": [SAMPLER_NODE, 0], "vae": ["4", 2]}},
        SAVE_NODE: {"class_type": "SaveImage", "inputs": {"images": [DECODE_NODE, 0], "filename_prefix": prefix}},
    }


def vae_channel_mismatch() -> dict:
    """A runtime error in a model node: the SD1.x VAE (4 latent channels) decoding a 16-channel SD3 latent.

    Validation passes (the types agree); VAEDecode (node "8") raises a RuntimeError from the convolution.
    """
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "5": {"class_type": "EmptySD3LatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": 1}},
        DECODE_NODE: {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["4", 2]}},
        SAVE_NODE: {"class_type": "SaveImage", "inputs": {"images": [DECODE_NODE, 0], "filename_prefix": "broken"}},
    }


def evict_cache_workflow() -> dict:
    """A core-node prompt sharing no node with the sampler workflows: ComfyUI drops their cached outputs."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": random.randrange(1, 0xFFFFFF)},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "evict"}},
    }
