"""ASCII slugs for template titles in any script: Chinese by its pinyin, everything else transliterated.

"破次元壁合照" → "po-ci-yuan-bi-he-zhao", "Фото на память" → "foto-na-pamiat", "Café crème" → "cafe-creme".
Chinese goes through pypinyin (words, not characters, so polyphones read right: 合照 → he-zhao); other
scripts through anyascii (ISC licence). The admin fills the slug field from the title with the same
function (`slug_preview` view) and the operator may still edit it.
"""

from __future__ import annotations

import re

from anyascii import anyascii
from django.utils.text import slugify
from pypinyin import Style, lazy_pinyin

MAX_LENGTH = 100  # WorkflowTemplate.slug
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")


def slugify_title(title: str, *, max_length: int = MAX_LENGTH, fallback: str = "template") -> str:
    """An ASCII slug (a-z, 0-9, hyphens) for `title`; `fallback` when nothing readable is left."""
    text = str(title or "")
    if HAN.search(text):
        # Each Chinese word becomes its syllables; runs of other characters come back unchanged.
        text = " ".join(lazy_pinyin(text, style=Style.NORMAL, errors=lambda chars: [chars]))
    slug = slugify(anyascii(text))
    slug = slug[:max_length].rstrip("-")
    return slug or fallback


def unique_slug(title: str, taken, *, max_length: int = MAX_LENGTH) -> str:
    """`slugify_title(title)`, with -2, -3… appended while `taken(slug)` says it is in use."""
    base = slugify_title(title, max_length=max_length)
    slug, number = base, 1
    while taken(slug):
        number += 1
        suffix = f"-{number}"
        slug = base[: max_length - len(suffix)].rstrip("-") + suffix
    return slug
