"""Node implementations: core image nodes run for real with Pillow, model nodes are simulated.

An IMAGE is a list of RGB Pillow images (the batch), a MASK a list of "L" images, a LATENT a dict.
"""

from __future__ import annotations

import hashlib
import random
import re
import string
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

RESAMPLE = {
    "nearest-exact": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
SAMPLER_CLASSES = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}


class NodeFailure(Exception):
    """A node failed at run time; carries the exception type ComfyUI would report."""

    def __init__(self, message: str, exception_type: str = "RuntimeError") -> None:
        super().__init__(message)
        self.exception_type = exception_type


@dataclass
class RunContext:
    """What a node may touch while it runs."""

    input_dir: Path
    output_dir: Path
    temp_dir: Path
    loaded_images: list  # every image LoadImage produced in this prompt, for VAEDecode's blend


def color_image(width: int, height: int, color: int) -> Image.Image:
    return Image.new("RGB", (width, height), ((color >> 16) & 255, (color >> 8) & 255, color & 255))


def emulated_image(width: int, height: int, seed: int, blend_with: list | None = None) -> Image.Image:
    """A deterministic picture from the seed, visibly marked so nobody takes it for a generation."""
    rng = random.Random(seed)
    top = tuple(rng.randrange(256) for _ in range(3))
    bottom = tuple(rng.randrange(256) for _ in range(3))
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.composite(Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top), gradient)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = max(2, min(width, height) // rng.randint(6, 14))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=tuple(rng.randrange(256) for _ in range(3)))
    for source in blend_with or []:
        image = Image.blend(image, source.convert("RGB").resize((width, height)), 0.35)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, min(height, 14)), fill=(0, 0, 0))
    draw.text((3, 1), "EMULATED", fill=(255, 255, 0))
    return image


def as_images(value: object) -> list[Image.Image]:
    """An IMAGE input; a simulated node's output becomes a placeholder picture."""
    if isinstance(value, list) and value and all(isinstance(item, Image.Image) for item in value):
        return [item.convert("RGB") for item in value]
    return [emulated_image(512, 512, 0)]


def as_masks(value: object) -> list[Image.Image]:
    if isinstance(value, list) and value and all(isinstance(item, Image.Image) for item in value):
        return [item.convert("L") for item in value]
    return [Image.new("L", (512, 512), 0)]


def save_images(images: list[Image.Image], folder: Path, prefix: str, kind: str) -> dict:
    """Write PNGs named like ComfyUI (`prefix_00001_.png`, counting up per folder and prefix)."""
    subfolder, _, name = prefix.replace("\\", "/").rpartition("/")
    target = (folder / subfolder).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise NodeFailure("Saving image outside the output folder is not allowed.", "Exception")
    target.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(rf"^{re.escape(name)}_(\d+)_\.png$")
    counter = max((int(m.group(1)) for p in target.iterdir() if (m := pattern.match(p.name))), default=0) + 1
    results = []
    for image in images:
        filename = f"{name}_{counter:05d}_.png"
        image.save(target / filename, format="PNG")
        results.append({"filename": filename, "subfolder": subfolder, "type": kind})
        counter += 1
    return {"images": results}


def load_image_file(ctx: RunContext, name: str) -> Image.Image:
    path = resolve_input(ctx.input_dir, name)
    try:
        image = Image.open(path)
        image.load()
    except (OSError, ValueError) as exc:
        raise NodeFailure(f"cannot identify image file '{path}'", "UnidentifiedImageError") from exc
    return ImageOps.exif_transpose(image)


def resolve_input(input_dir: Path, name: str) -> Path:
    """`name` may be `sub/file.png` or ComfyUI's annotated `file.png [input]`."""
    name = re.sub(r"\s*\[(input|output|temp)\]$", "", name)
    path = (input_dir / name).resolve()
    if not path.is_relative_to(input_dir.resolve()):
        raise NodeFailure(f"Invalid image path: {name}", "ValueError")
    return path


def input_file_hash(input_dir: Path, name: str) -> str:
    try:
        return hashlib.sha256(resolve_input(input_dir, name).read_bytes()).hexdigest()
    except (OSError, NodeFailure):
        return "missing"


def run_load_image(ctx: RunContext, image: str) -> tuple:
    loaded = load_image_file(ctx, image)
    frames = [loaded.convert("RGB")]
    if "A" in loaded.getbands():
        mask = ImageOps.invert(loaded.getchannel("A"))
    else:
        mask = Image.new("L", (64, 64), 0)
    ctx.loaded_images.extend(frames)
    return frames, [mask]


def run_load_image_mask(ctx: RunContext, image: str, channel: str) -> tuple:
    loaded = load_image_file(ctx, image)
    band = {"alpha": "A", "red": "R", "green": "G", "blue": "B"}[channel]
    if band == "A" and "A" not in loaded.getbands():
        return ([Image.new("L", (64, 64), 0)],)
    if loaded.mode not in ("RGB", "RGBA"):
        loaded = loaded.convert("RGBA")
    mask = loaded.getchannel(band)
    return ([ImageOps.invert(mask) if band == "A" else mask],)


def run_save_image(ctx: RunContext, images: object, filename_prefix: str = "ComfyUI") -> tuple:
    return (), save_images(as_images(images), ctx.output_dir, filename_prefix, "output")


def run_preview_image(ctx: RunContext, images: object) -> tuple:
    suffix = "".join(random.choice(string.ascii_lowercase) for _ in range(5))
    return (), save_images(as_images(images), ctx.temp_dir, f"ComfyUI_temp_{suffix}", "temp")


def run_empty_image(ctx: RunContext, width: int, height: int, batch_size: int = 1, color: int = 0) -> tuple:
    return ([color_image(width, height, color) for _ in range(batch_size)],)


def scaled(image: Image.Image, method: str, width: int, height: int, crop: str) -> Image.Image:
    if width == 0 and height == 0:
        return image
    if width == 0:
        width = max(1, round(image.width * height / image.height))
    elif height == 0:
        height = max(1, round(image.height * width / image.width))
    if crop == "center":
        image = ImageOps.fit(image, (width, height), method=RESAMPLE[method])
        return image
    return image.resize((width, height), RESAMPLE[method])


def run_image_scale(ctx: RunContext, image: object, upscale_method: str, width: int, height: int, crop: str) -> tuple:
    return ([scaled(item, upscale_method, width, height, crop) for item in as_images(image)],)


def run_image_scale_by(ctx: RunContext, image: object, upscale_method: str, scale_by: float) -> tuple:
    return (
        [
            item.resize(
                (max(1, round(item.width * scale_by)), max(1, round(item.height * scale_by))), RESAMPLE[upscale_method]
            )
            for item in as_images(image)
        ],
    )


def run_image_invert(ctx: RunContext, image: object) -> tuple:
    return ([ImageOps.invert(item) for item in as_images(image)],)


def blend(base: Image.Image, top: Image.Image, mode: str) -> Image.Image:
    top = top.resize(base.size)
    if mode == "multiply":
        return ImageChops.multiply(base, top)
    if mode == "screen":
        return ImageChops.screen(base, top)
    if mode == "overlay":
        return ImageChops.overlay(base, top)
    if mode == "soft_light":
        return ImageChops.soft_light(base, top)
    if mode == "difference":
        return ImageChops.difference(base, top)
    return top


def run_image_blend(ctx: RunContext, image1: object, image2: object, blend_factor: float, blend_mode: str) -> tuple:
    firsts, seconds = as_images(image1), as_images(image2)
    out = []
    for index, base in enumerate(firsts):
        mixed = blend(base, seconds[min(index, len(seconds) - 1)], blend_mode)
        out.append(Image.blend(base, mixed, blend_factor))
    return (out,)


def run_image_composite_masked(
    ctx: RunContext,
    destination: object,
    source: object,
    x: int,
    y: int,
    resize_source: bool,
    mask: object = None,
) -> tuple:
    sources = as_images(source)
    out = []
    for index, dest in enumerate(as_images(destination)):
        src = sources[min(index, len(sources) - 1)]
        if resize_source:
            src = src.resize(dest.size, Image.Resampling.BILINEAR)
        paste_mask = None
        if mask is not None:
            paste_mask = as_masks(mask)[0].resize(src.size)
        dest = dest.copy()
        dest.paste(src, (x, y), paste_mask)
        out.append(dest)
    return (out,)


def run_image_crop(ctx: RunContext, image: object, width: int, height: int, x: int, y: int) -> tuple:
    out = []
    for item in as_images(image):
        left, top = min(x, item.width - 1), min(y, item.height - 1)
        out.append(item.crop((left, top, min(left + width, item.width), min(top + height, item.height))))
    return (out,)


def run_image_pad_for_outpaint(
    ctx: RunContext, image: object, left: int, top: int, right: int, bottom: int, feathering: int
) -> tuple:
    images, masks = [], []
    for item in as_images(image):
        size = (item.width + left + right, item.height + top + bottom)
        padded = Image.new("RGB", size, (128, 128, 128))
        padded.paste(item, (left, top))
        mask = Image.new("L", size, 255)
        inner = Image.new("L", item.size, 0)
        mask.paste(inner, (left, top))
        if feathering > 0:  # soften the seam into the original picture, like ComfyUI's feathered mask
            mask = mask.filter(ImageFilter.GaussianBlur(feathering / 4))
        images.append(padded)
        masks.append(mask)
    return images, masks


def run_image_to_mask(ctx: RunContext, image: object, channel: str) -> tuple:
    index = ["red", "green", "blue", "alpha"].index(channel)
    out = []
    for item in as_images(image):
        if index >= len(item.getbands()):
            raise NodeFailure(
                f"index {index} is out of bounds for dimension 3 with size {len(item.getbands())}\n", "IndexError"
            )
        out.append(item.getchannel(index))
    return (out,)


def run_mask_to_image(ctx: RunContext, mask: object) -> tuple:
    return ([item.convert("RGB") for item in as_masks(mask)],)


def run_solid_mask(ctx: RunContext, value: float, width: int, height: int) -> tuple:
    return ([Image.new("L", (width, height), round(value * 255))],)


def run_invert_mask(ctx: RunContext, mask: object) -> tuple:
    return ([ImageOps.invert(item) for item in as_masks(mask)],)


REAL_NODES = {
    "LoadImage": run_load_image,
    "LoadImageMask": run_load_image_mask,
    "SaveImage": run_save_image,
    "PreviewImage": run_preview_image,
    "EmptyImage": run_empty_image,
    "ImageScale": run_image_scale,
    "ImageScaleBy": run_image_scale_by,
    "ImageInvert": run_image_invert,
    "ImageBlend": run_image_blend,
    "ImageCompositeMasked": run_image_composite_masked,
    "ImageCrop": run_image_crop,
    "ImagePadForOutpaint": run_image_pad_for_outpaint,
    "ImageToMask": run_image_to_mask,
    "MaskToImage": run_mask_to_image,
    "SolidMask": run_solid_mask,
    "InvertMask": run_invert_mask,
}


def simulate(class_type: str, inputs: dict, ctx: RunContext) -> tuple:
    """Model nodes: latents carry size and seed; VAEDecode paints a marked deterministic image."""
    if class_type == "EmptyLatentImage" or class_type.startswith("EmptySD3Latent"):
        return ({"width": int(inputs.get("width", 512)), "height": int(inputs.get("height", 512)),
                 "batch": int(inputs.get("batch_size", 1)), "seed": 0},)  # fmt: skip
    if class_type in SAMPLER_CLASSES:
        latent = next((v for v in inputs.values() if isinstance(v, dict) and "width" in v), None) or {
            "width": 512, "height": 512, "batch": 1, "seed": 0}  # fmt: skip
        seed = inputs.get("seed", inputs.get("noise_seed", 0))
        seed = seed if isinstance(seed, int) else 0
        return ({**latent, "seed": seed}, {**latent, "seed": seed})
    if class_type.startswith("VAEDecode"):
        latent = inputs.get("samples")
        latent = latent if isinstance(latent, dict) else {"width": 512, "height": 512, "batch": 1, "seed": 0}
        images = [
            emulated_image(latent["width"], latent["height"], latent["seed"] + index, ctx.loaded_images)
            for index in range(max(1, latent.get("batch", 1)))
        ]
        return (images,)
    return ()
