"""What the progress line says while a job runs: a visitor's word for the running node, not its class name.

The rules are data for the page's script too (`phase_rules_json`), so the server-rendered line and the
live one say the same: the first rule whose fragment is in the node's class name wins.
"""

from __future__ import annotations

import json

from django.utils.translation import gettext_lazy as _

PHASE_WORDS = {
    "painting": _("Painting"),
    "reading": _("Looking at your photo"),
    "preparing": _("Getting ready"),
    "finishing": _("Finishing the picture"),
    "enlarging": _("Adding detail"),
    "saving": _("Saving your image"),
    "working": _("Working"),
}

# (fragment of a ComfyUI node class name, phase); order matters: the first match wins.
PHASE_RULES = (
    ("Sampler", "painting"),  # KSampler, KSamplerAdvanced, SamplerCustom, SamplerCustomAdvanced
    ("VAEDecode", "finishing"),
    ("Upscale", "enlarging"),  # ImageUpscaleWithModel, LatentUpscale…
    ("VAEEncode", "reading"),
    ("LoadImage", "reading"),
    ("ControlNet", "reading"),
    ("IPAdapter", "reading"),
    ("Preprocessor", "reading"),
    ("Pose", "reading"),
    ("Loader", "preparing"),  # checkpoints, LoRAs, CLIP, VAE, ControlNet models
    ("CLIPTextEncode", "preparing"),
    ("Conditioning", "preparing"),
    ("EmptyLatent", "preparing"),
    ("SaveImage", "saving"),
    ("PreviewImage", "saving"),
)


def phase_of(class_type: object) -> str:
    """The phase of a node class ("working" when no rule knows it)."""
    name = str(class_type or "")
    for fragment, phase in PHASE_RULES:
        if fragment in name:
            return phase
    return "working"


def progress_line(snapshot: dict) -> str:
    """`Painting · 10/17` for a running job's current node; the phase word alone without steps.

    Before the backend names a node (it just started the prompt), "Getting ready…": never a bare 0 %.
    """
    current = snapshot.get("current") or {}
    if not current:
        return f"{PHASE_WORDS['preparing']}…"
    word = str(PHASE_WORDS[phase_of(current.get("class_type"))])
    if (current.get("max") or 0) > 1:
        return f"{word} · {current.get('value', 0)}/{current['max']}"
    return f"{word}…"


def phase_rules_json() -> str:
    """The rules and the words in the visitor's language, for the page's script (a data attribute)."""
    return json.dumps(
        {"rules": PHASE_RULES, "words": {key: str(word) for key, word in PHASE_WORDS.items()}},
        ensure_ascii=False,
    )
