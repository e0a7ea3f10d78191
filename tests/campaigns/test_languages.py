from __future__ import annotations


def test_chinese_is_the_default_language(client, db):
    html = client.get("/").content.decode()
    assert 'lang="zh-hans"' in html
    assert "我的作品" in html


def test_accept_language_english_gives_english(client, db):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'lang="en"' in html
    assert "My creations" in html


def test_language_switcher_sets_the_language(client, db):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/me/"})
    assert response.status_code == 302 and response["Location"] == "/me/"
    assert "My creations" in client.get("/me/").content.decode()
