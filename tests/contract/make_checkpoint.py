"""Build a random-weight checkpoint that a real ComfyUI loads as Stable Diffusion 1.x (no download).

`make test-comfyui` runs the sampler tests (CheckpointLoaderSimple → CLIPTextEncode → KSampler →
VAEDecode) against a real CPU ComfyUI. No model may be downloaded, so run_real_comfyui.sh calls this
script once per ComfyUI build cache (`~/.cache/comfyweb/comfyui`), with the ComfyUI venv's Python, to
write one into ComfyUI's `models/checkpoints/` folder:

    ~/.cache/comfyweb/comfyui/venv/bin/python tests/contract/make_checkpoint.py \\
        --comfyui ~/.cache/comfyweb/comfyui/ComfyUI --output-dir ~/.cache/comfyweb/comfyui/ComfyUI/models/checkpoints

The model is made from ComfyUI's own classes, so whatever this ComfyUI loads, it can load:

* the UNet: `comfy.supported_models.SD15` with an SD1.x UNet config (`BaseModel` → `UNetModel`);
* the text encoder: `comfy.sd1_clip.SD1ClipModel` (CLIP ViT-L/14 text model, the SD1.x config);
* the VAE: `comfy.ldm.models.autoencoder.AutoencoderKL` with the SD1.x `ddconfig`.

ComfyUI creates its layers without initialising them (`comfy.ops.disable_weight_init`), so every
tensor is filled here from one seeded generator: matrices and kernels ~ N(0, 1/fan_in), norm weights
1, biases ~ N(0, 0.02). The same seed gives the same file, byte for byte. The state dict is the one
`CheckpointSave` writes (`BaseModel.state_dict_for_saving`: `model.diffusion_model.*`,
`cond_stage_model.transformer.text_model.*`, `first_stage_model.*`), saved as fp16 safetensors.
Its output is noise: the point is the real sampler's message flow, timing and errors.

The UNet is smaller than SD1.5's (``--unet tiny``, the default): one resolution level (`channel_mult
[1]`, no down/upsampling), one res block + one transformer block per level, instead of four levels
`[1, 2, 4, 4]` with two res blocks each. ComfyUI still detects it as SD1.x:
`comfy.model_detection.detect_unet_config` reads the architecture back from the tensor shapes
(`model_channels` from `input_blocks.0.0.weight`, `context_dim` from `attn2.to_k`, `proj_in` being a
conv → `use_linear_in_transformer` False, no `label_emb` → `adm_in_channels` None), and
`comfy.supported_models.SD15.matches` compares only those keys (`context_dim` 768, `model_channels`
320, `use_linear_in_transformer` False, `adm_in_channels` None, `use_temporal_attention` False),
never the depth. The models listed before SD15 (LotusD, Stable_Zero123, SD15_instructpix2pix) need
other `in_channels`/keys, so SD15 is the first match; `main()` checks this with ComfyUI's own
detection before writing the file. On this 2-core machine one KSampler step at 64×64 (cfg > 1, so a
batch of 2) takes ≈0.04 s with the tiny UNet against ≈0.9–1.2 s with the full one, loading the
checkpoint ≈0.4 s against ≈5 s, and the file is 0.47 GB instead of 2.1 GB (the text encoder and the
VAE stay full size: ComfyUI's SD1.x configs for them are fixed). ``--unet full`` builds the full
SD1.5 UNet.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

# The file name the sampler tests use in CheckpointLoaderSimple.
CHECKPOINT_NAME = "comfyweb-random-sd15.safetensors"
DEFAULT_SEED = 20240615

# What comfy.model_detection.detect_unet_config returns for these UNets (so the check below compares them).
UNET_CONFIGS = {
    "tiny": {
        "num_res_blocks": [1],
        "channel_mult": [1],
        "transformer_depth": [1],
        "transformer_depth_output": [1, 1],
        "transformer_depth_middle": 1,
    },
    "full": {
        "num_res_blocks": [2, 2, 2, 2],
        "channel_mult": [1, 2, 4, 4],
        "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],
        "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
        "transformer_depth_middle": 1,
    },
}
SD1_UNET_BASE = {
    "use_checkpoint": False,
    "image_size": 32,
    "use_spatial_transformer": True,
    "legacy": False,
    "adm_in_channels": None,
    "in_channels": 4,
    "out_channels": 4,
    "model_channels": 320,
    "use_linear_in_transformer": False,
    "context_dim": 768,
    "use_temporal_resblock": False,
    "use_temporal_attention": False,
}
SD1_VAE_DDCONFIG = {
    "double_z": True,
    "z_channels": 4,
    "resolution": 256,
    "in_channels": 3,
    "out_ch": 3,
    "ch": 128,
    "ch_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "attn_resolutions": [],
    "dropout": 0.0,
}


def import_comfy(comfyui_dir: Path) -> None:
    """Make `import comfy...` work, parsing ComfyUI's command line as `--cpu` (no GPU probing)."""
    sys.path.insert(0, str(comfyui_dir))
    sys.argv = [sys.argv[0], "--cpu"]
    import comfy.options

    comfy.options.enable_args_parsing()
    import comfy.cli_args

    if not comfy.cli_args.args.cpu:
        raise SystemExit("ComfyUI's arguments were parsed before --cpu was set")


def initialise(module, generator) -> None:
    """Fill every parameter and buffer of `module` from `generator` (ComfyUI leaves them uninitialised)."""
    import torch

    with torch.no_grad():
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            if not tensor.is_floating_point():
                continue
            if name.endswith("position_ids"):
                tensor.copy_(torch.arange(tensor.shape[-1]).expand_as(tensor))
            elif tensor.ndim == 0:  # CLIP's logit_scale (not saved)
                tensor.fill_(math.log(100.0))
            elif tensor.ndim == 1 and name.endswith("weight"):  # GroupNorm / LayerNorm scales
                tensor.fill_(1.0)
            elif tensor.ndim == 1:
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.02)
            else:
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=generator) / math.sqrt(fan_in))


def build_state_dict(unet: str, seed: int) -> dict:
    """The checkpoint's tensors (fp16), keyed as CheckpointSave writes them."""
    import comfy.ldm.models.autoencoder
    import comfy.ops
    import comfy.sd1_clip
    import comfy.supported_models
    import torch

    generator = torch.Generator().manual_seed(seed)
    model_config = comfy.supported_models.SD15({**SD1_UNET_BASE, **UNET_CONFIGS[unet]})
    model = model_config.get_model({}, device=torch.device("cpu"))
    initialise(model.diffusion_model, generator)

    clip = comfy.sd1_clip.SD1ClipModel(device="cpu", dtype=torch.float32)
    initialise(clip, generator)

    vae = comfy.ldm.models.autoencoder.AutoencoderKL(ddconfig=dict(SD1_VAE_DDCONFIG), embed_dim=4)
    initialise(vae, generator)

    state_dict = model.state_dict_for_saving(clip.state_dict(), vae.state_dict())
    return {key: tensor.detach().to(torch.float16).contiguous() for key, tensor in state_dict.items()}


def check_detection(state_dict: dict, unet: str) -> None:
    """ComfyUI's own checkpoint detection must say SD1.x, with the UNet config this script built."""
    import comfy.model_detection
    import comfy.supported_models

    prefix = comfy.model_detection.unet_prefix_from_state_dict(state_dict)
    detected = comfy.model_detection.detect_unet_config(state_dict, prefix)
    model_config = comfy.model_detection.model_config_from_unet_config(detected, state_dict)
    if type(model_config) is not comfy.supported_models.SD15:
        raise SystemExit(f"ComfyUI detects {type(model_config).__name__}, not SD15: {detected}")
    expected = {**SD1_UNET_BASE, **UNET_CONFIGS[unet]}
    differences = {key: (detected.get(key), value) for key, value in expected.items() if detected.get(key) != value}
    if differences:
        raise SystemExit(f"detected UNet config differs (detected, built): {differences}")
    prefixes = {key.split(".", 1)[0] for key in state_dict}
    if prefixes != {"model", "cond_stage_model", "first_stage_model"}:
        raise SystemExit(f"unexpected key prefixes {sorted(prefixes)}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comfyui", type=Path, required=True, help="the ComfyUI folder (holding main.py)")
    parser.add_argument("--output-dir", type=Path, required=True, help="ComfyUI's models/checkpoints folder")
    parser.add_argument("--name", default=CHECKPOINT_NAME)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--unet", choices=sorted(UNET_CONFIGS), default="tiny")
    options = parser.parse_args(argv)

    started = time.monotonic()
    import_comfy(options.comfyui.resolve())
    import comfy.utils

    state_dict = build_state_dict(options.unet, options.seed)
    check_detection(state_dict, options.unet)
    options.output_dir.mkdir(parents=True, exist_ok=True)
    target = options.output_dir / options.name
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    metadata = {"comfyweb": f"random weights, seed {options.seed}, unet {options.unet}; not a generator"}
    comfy.utils.save_torch_file(state_dict, str(partial), metadata=metadata)
    partial.replace(target)
    parameters = sum(tensor.numel() for tensor in state_dict.values())
    print(
        f"wrote {target} ({parameters / 1e6:.0f} M parameters, {target.stat().st_size / 1e6:.0f} MB, "
        f"unet {options.unet}, seed {options.seed}) in {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
