"""ASCII slugs from titles in any script (catalog.slugs)."""

from __future__ import annotations

import pytest

from comfyweb.catalog.slugs import slugify_title, unique_slug


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("破次元壁合照", "po-ci-yuan-bi-he-zhao"),
        ("负片效果-negative", "fu-pian-xiao-guo-negative"),
        ("重庆火锅", "chong-qing-huo-guo"),  # 重 read as chóng in this word, not zhòng
        ("海报相框 v2!", "hai-bao-xiang-kuang-v2"),
        ("Фото на память", "foto-na-pamyat"),
        ("Café crème", "cafe-creme"),
        ("서울 사진", "seoul-sajin"),
        ("Poster frame", "poster-frame"),
    ],
)
def test_titles_in_any_script_give_ascii_slugs(title, slug):
    assert slugify_title(title) == slug
    assert slug.isascii()


def test_nothing_readable_falls_back_and_long_titles_are_cut_to_the_slug_field():
    assert slugify_title("") == "template"
    assert slugify_title("!!!", fallback="workflow") == "workflow"
    long = slugify_title("合照" * 80)
    assert len(long) <= 100 and not long.endswith("-")


def test_unique_slugs_count_up_while_taken():
    taken = {"poster-frame", "poster-frame-2"}
    assert unique_slug("Poster frame", taken.__contains__) == "poster-frame-3"
    assert unique_slug("New one", taken.__contains__) == "new-one"
