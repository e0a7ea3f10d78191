from __future__ import annotations


def test_home_lists_every_enabled_template_and_open_campaigns(client, campaign, make_template):
    make_template("hidden-one", enabled=False, title="Hidden One")
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "/t/couple-photo/" in html and "/t/background-swap/" in html
    assert "Hidden One" not in html
    assert "/c/couple-photo/" in html


def test_home_shows_the_emulator_banner_when_no_backend_is_configured(client, db, settings):
    settings.COMFYUI_URL = ""
    settings.GPU_BACKENDS = ""
    assert "emulator-banner" in client.get("/").content.decode()
    settings.COMFYUI_URL = "http://gpu:8188"
    assert "emulator-banner" not in client.get("/").content.decode()
