"""An operator who has only a ComfyUI workflow file publishes a working template without touching JSON, in
chromium: upload the workflow, accept the proposed fields, rename one, watch the live preview, run a test and
follow it beside the editor, publish; then a visitor runs it. Also: steps inside steps, moving cards by drag
and by keyboard, a new step that keeps its title, and two operators saving one draft. Every page of the way
is held to the site's Content-Security-Policy."""

from __future__ import annotations

import json
import re

import pytest

from tests.browser.a11y import axe_violations
from tests.browser.conftest import BrowserWatch, running_site

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OPERATOR = ("studio-operator", "studio-pass-1")
FINAL = ("succeeded", "failed", "cancelled")


def ui_workflow(groups: list | None = None) -> dict:
    """ComfyUI's "Save" format (what the page's Save writes): a photo scaled, inverted and saved, in a group,
    with a caption text the workflow keeps aside; core nodes the emulator runs."""
    nodes, links = [], []

    def node(node_id, kind, widgets, *, title=None, pos=(0, 0)):
        entry = {
            "id": node_id, "type": kind, "pos": list(pos), "size": [220, 120], "flags": {}, "order": len(nodes),
            "mode": 0, "inputs": [], "outputs": [], "properties": {"Node name for S&R": kind},
            "widgets_values": widgets,
        }  # fmt: skip
        if title:
            entry["title"] = title
        nodes.append(entry)
        return entry

    def link(origin, slot, target, name, kind):
        link_id = len(links) + 1
        source = next(n for n in nodes if n["id"] == origin)
        sink = next(n for n in nodes if n["id"] == target)
        while len(source["outputs"]) <= slot:
            source["outputs"].append({"name": kind, "type": kind, "links": []})
        source["outputs"][slot]["links"].append(link_id)
        sink["inputs"].append({"name": name, "type": kind, "link": link_id})
        links.append([link_id, origin, slot, target, len(sink["inputs"]) - 1, kind])

    node(1, "LoadImage", ["example.png", "image"], title="Your photo", pos=(0, 0))
    node(2, "ImageScale", ["bilinear", 256, 256, "center"], pos=(300, 0))
    node(4, "ImageInvert", [], pos=(600, 0))
    node(5, "SaveImage", ["studio"], pos=(900, 0))
    node(6, "PrimitiveStringMultiline", ["a warm summer evening"], title="Caption", pos=(0, 500))
    link(1, 0, 2, "image", "IMAGE")
    link(2, 0, 4, "image", "IMAGE")
    link(4, 0, 5, "images", "IMAGE")
    return {
        "id": "5f0c6a52-0000-4000-8000-000000000001", "revision": 0, "last_node_id": 6,
        "last_link_id": len(links), "nodes": nodes, "links": links,
        "groups": groups or [{"id": 1, "title": "Your photo", "bounding": [-20, -40, 280, 260], "flags": {}}],
        "config": {}, "extra": {}, "version": 0.4,
    }  # fmt: skip


@pytest.fixture(scope="module")
def studio_site(tmp_path_factory):
    """The demo site on `serve` (jobs run on its emulator), with an operator account."""
    create_operator = ["createsuperuser", "--noinput", "--username", OPERATOR[0], "--email", "ops@example.com"]
    with running_site(
        tmp_path_factory.mktemp("studio"),
        env={"EMULATOR_STEP_MS": "50", "DJANGO_SUPERUSER_PASSWORD": OPERATOR[1]},
        prepare=[["loaddemo"], create_operator],
    ) as url:
        yield url


def _wide_page(browser, url: str, locale: str):
    """A desktop-wide page (the editor sits beside its preview) whose CSP violations and dialogs are kept."""
    context = browser.new_context(base_url=url, locale=locale, viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(20_000)
    watch = BrowserWatch(context)
    return context, context.new_page(), watch


def _wait_final(page, seconds: float = 60) -> str:
    for _ in range(int(seconds * 10)):
        status = page.locator("[data-job-id]").first.get_attribute("data-status")
        if status in FINAL:
            return status
        page.wait_for_timeout(100)
    pytest.fail(f"the job did not finish: {status}")


def test_an_operator_with_only_a_workflow_file_publishes_a_template_a_visitor_runs(
    browser, studio_site, tmp_path, photo, shot
):
    workflow = tmp_path / "summer-tint.json"
    workflow.write_text(json.dumps(ui_workflow()), encoding="utf-8")
    context, page, watch = _wide_page(browser, studio_site, "en-US")

    # Log in and upload the workflow, as ComfyUI saved it.
    page.goto("/admin/login/?next=/admin/catalog/workflowtemplate/import/")
    page.fill("#id_username", OPERATOR[0])
    page.fill("#id_password", OPERATOR[1])
    page.locator("input[type=submit]").click()
    page.wait_for_url(re.compile(r"/import/$"))
    page.locator('input[type="file"][name="file"]').set_input_files(str(workflow))
    page.locator('input[type="submit"]').click()
    page.wait_for_url(re.compile(r"/admin/catalog/workflowtemplate/\d+/change/$"))
    template_id = re.search(r"/(\d+)/change/$", page.url).group(1)
    assert "Imported “summer-tint”" in page.locator(".messagelist").inner_text()
    assert "visitors do not see this template" in page.locator("[data-studio-status]").inner_text()

    # The proposals: the photo is taken (its reason says why), the caption is offered; accept them all.
    photo_card = page.locator('[data-item="field"][data-name="1.image"]')
    caption_card = page.locator('[data-item="field"][data-name="6.value"]')
    assert photo_card.locator('[data-prop="exposed"]').is_checked()
    assert not caption_card.locator('[data-prop="exposed"]').is_checked()
    assert "a text of the workflow" in caption_card.locator(".studio-reason").inner_text()
    page.locator('[data-action="accept-all"]').click()
    assert caption_card.locator('[data-prop="exposed"]').is_checked()

    # Rename the photo field: the JSON follows, and so does the live preview (the visitor page's own look).
    photo_card.locator('[data-prop="title"]').fill("Your portrait")
    photo_card.locator('[data-prop="description"]').fill("A face, well lit, works best.")
    frame = page.frame_locator("iframe.studio-iframe")
    frame.locator("label", has_text="Your portrait").wait_for()
    step = frame.locator("ol.steps > li.step", has=frame.locator("legend", has_text="Your photo"))
    assert step.locator("label", has_text="Your portrait").count() == 1, "the ComfyUI group became a step"
    params = json.loads(page.locator("[data-params-json]").input_value())
    [group] = [p for p in params if p["type"] == "group"]
    assert group["title"] == "Your photo" and group["children"][0]["title"] == "Your portrait"
    assert any(p.get("key") == "value" for p in params), "the accepted caption is a field"
    assert not page.locator("[data-json-details]").evaluate("d => d.open"), "the JSON stayed closed"
    shot(page, "studio-01-editor-and-preview")

    # The preview shows the Chinese page, but what only the operator reads is in their own language.
    frame.locator("legend", has_text="生成几张？").wait_for()
    assert frame.locator("[data-test-run]").inner_text() == "Run a test"
    assert "Any free backend" in frame.locator("#test-run-backend").inner_text()

    # A test run of the draft, with the preview's values, on the emulator backend: followed beside the editor
    # (no new tab), its progress bar and status, then its pictures.
    frame.locator('input[type="file"][name="1.image"]').set_input_files(str(photo))
    frame.locator("#test-run-backend").select_option(index=1)
    pages_before = len(context.pages)
    frame.locator("[data-test-run]").click()
    run = page.locator("[data-test-runs] [data-run]").first
    run.wait_for()
    assert run.locator("progress[data-run-progress]").count() == 1
    run.locator("[data-run-images] img").first.wait_for(timeout=60_000)
    assert run.get_attribute("data-status") == "succeeded"
    assert "Done" in run.locator("[data-run-status]").inner_text()
    assert re.search(r"/jobs/[0-9a-f-]+/$", run.locator("[data-run-page]").get_attribute("href"))
    assert len(context.pages) == pages_before, "no new tab"
    shot(page, "studio-02-test-run-beside-the-editor")

    # Nothing is public yet; publish.
    visitor_context, visitor, visitor_watch = _wide_page(browser, studio_site, "en-US")
    assert visitor.goto("/t/summer-tint/").status == 404
    page.locator('input[name="_publish"]').click()
    page.wait_for_url(re.compile(rf"/{template_id}/change/$"))
    assert "Published: visitors now see version" in page.locator(".messagelist").inner_text()
    shot(page, "studio-03-published")

    # A visitor runs it.
    visitor.goto("/t/summer-tint/")
    assert visitor.locator("label", has_text="Your portrait").count() == 1
    visitor.locator('input[type="file"][name="1.image"]').set_input_files(str(photo))
    visitor.locator("textarea[name='6.value'], input[name='6.value']").fill("a quiet morning")
    visitor.locator('.qty:has(input[value="1"])').click()
    visitor.locator("[data-submit]").click()
    visitor.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+/$"))
    assert _wait_final(visitor) == "succeeded"
    assert visitor.locator("[data-job-id] img").count() >= 1
    shot(visitor, "studio-04-visitor-result")

    visitor_context.close()
    context.close()
    watch.fail_on_csp_violations()
    visitor_watch.fail_on_csp_violations()
    assert not watch.dialogs and not visitor_watch.dialogs


def _login(page, next_url: str) -> None:
    page.goto(f"/admin/login/?next={next_url}")
    page.fill("#id_username", OPERATOR[0])
    page.fill("#id_password", OPERATOR[1])
    page.locator("input[type=submit]").click()
    page.wait_for_url(re.compile(re.escape(next_url) + "$"))


def test_cards_and_json_stay_in_step_and_visitors_keep_the_published_version(browser, studio_site, shot):
    """Reorder, make a gallery, add a step; then edit the JSON by hand: the cards follow it. Saved as a draft,
    the editor shows it again while visitors still see the published version."""
    context, page, watch = _wide_page(browser, studio_site, "en-US")
    _login(page, "/admin/catalog/workflowtemplate/?q=colour-pop")
    page.locator("#result_list a", has_text="撞色滤镜").click()
    page.wait_for_url(re.compile(r"/\d+/change/"))
    change_url = re.compile(re.escape(page.url.split("?")[0]) + "$")
    params = lambda: json.loads(page.locator("[data-params-json]").input_value())  # noqa: E731
    style = lambda: next(p for p in params() if p.get("title") == "风格")  # noqa: E731

    # Move the strength above the blend mode.
    page.locator('[data-name="4.blend_factor"] [data-action="up"]').click()
    assert [c["key"] for c in style()["children"]] == ["color", "blend_factor", "blend_mode"]

    # The photo becomes a gallery that still takes uploads.
    photo = page.locator('[data-item="field"][data-name="1.image"]')
    photo.locator('[data-prop="mode"][value="both"]').check()
    photo.locator('[data-action="add-option"]').click()
    photo.locator("[data-option-value]").last.fill("/static/workflows/couple-mask.png")
    photo.locator("[data-option-label]").last.fill("Mask")
    page.wait_for_function("() => document.querySelector('[data-params-json]').value.includes('\"Mask\"')")
    photo_panel = params()[0]["children"][0]
    assert photo_panel["options"] == ["/static/workflows/couple-mask.png"] and photo_panel["labels"] == ["Mask"]
    assert "upload" not in photo_panel

    # A new step keeps its title, and the field added next goes into it (not into the step above).
    page.locator('[data-action="add-step"]').click()
    page.keyboard.type("Finishing")  # the new step's title has the focus
    page.wait_for_timeout(400)  # typing is read into the JSON a moment after the last key
    page.locator("[data-add-input]").select_option("5.filename_prefix")
    page.locator('[data-action="add-input"]').click()
    added = page.locator('[data-item="field"][data-name="5.filename_prefix"]')
    added.wait_for()
    finishing = page.locator('[data-item="step"]', has=page.locator('input[data-prop="title"][value="Finishing"]'))
    assert finishing.count() == 1, "the step kept its title through the redraw"
    assert finishing.locator('[data-item="field"][data-name="5.filename_prefix"]').count() == 1
    assert [p.get("title") for p in params() if p["type"] == "group"] == ["照片", "风格", "Finishing"]
    assert [c["key"] for c in params()[2]["children"]] == ["filename_prefix"]
    assert [c["key"] for c in style()["children"]] == ["color", "blend_factor", "blend_mode"], "the step above"
    frame = page.frame_locator("iframe.studio-iframe")
    frame.locator("legend", has_text="Finishing").wait_for()
    frame.locator('input[type="radio"][name="1.image"][value="/static/workflows/couple-mask.png"]').wait_for()

    # The keyboard moves a field out of its step and into the one before, one place at a time.
    moves = page.locator('[data-name="5.filename_prefix"]')
    moves.locator('[data-action="up"]').click()  # out of "Finishing", before it
    assert [p.get("key") for p in params()][2] == "filename_prefix"
    moves.locator('[data-action="up"]').click()  # into "风格", at its end
    assert [c["key"] for c in style()["children"]][-1] == "filename_prefix"
    moves.locator('[data-action="down"]').click()  # back out
    moves.locator('[data-action="down"]').click()  # into "Finishing"
    assert [c["key"] for c in params()[2]["children"]] == ["filename_prefix"]

    # The JSON, edited by hand: the cards follow.
    page.locator("[data-json-details] > summary").click()
    edited = params()
    next(c for c in edited[1]["children"] if c["key"] == "blend_factor")["title"] = "Strength, typed in JSON"
    page.locator("[data-params-json]").fill(json.dumps(edited, ensure_ascii=False, indent=2))
    title = page.locator('[data-name="4.blend_factor"] [data-prop="title"]')
    page.wait_for_function("() => document.querySelector('[data-name=\"4.blend_factor\"] [data-prop=title]')"
                           ".value === 'Strength, typed in JSON'")  # fmt: skip
    assert title.input_value() == "Strength, typed in JSON"
    shot(page, "studio-05-cards-and-json")

    # Saved as a draft: the editor shows it again, visitors still see the published version.
    page.locator('input[name="_continue"]').click()
    page.wait_for_url(change_url)
    assert "Visitors still see version" in page.locator(".messagelist").inner_text()
    assert page.locator('[data-item="step"] [data-prop="title"][value="Finishing"]').count() == 1
    visitor_context, visitor, visitor_watch = _wide_page(browser, studio_site, "en-US")
    visitor.goto("/t/colour-pop/")
    assert visitor.locator("legend", has_text="Finishing").count() == 0
    assert visitor.locator('input[type="file"][name="1.image"]').count() == 1, "no gallery yet"

    visitor_context.close()
    context.close()
    watch.fail_on_csp_violations()
    visitor_watch.fail_on_csp_violations()


def _drag(page, handle, target, *, y: float, until: str) -> None:
    """Press on a card's handle, move in small steps to `y` (a share of the target's height), and release once
    the card sits where `until` (a JS predicate on the page) wants it, as a person holds a card until its gap
    opens at the right place. SortableJS moves the card on pointer moves and animates: on a busy machine the
    gap opens later than the pointer arrives, so the pointer keeps hovering (small moves) until it has.
    """
    start, box = handle.bounding_box(), target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + 5, start["y"] + 5, steps=3)
    x, to_y = box["x"] + 60, box["y"] + box["height"] * y
    page.mouse.move(x, to_y, steps=15)
    for hover in range(100):
        if page.evaluate(until):
            break
        page.mouse.move(x + (hover % 2) * 2, to_y + (hover % 3), steps=2)
        page.wait_for_timeout(50)
    page.mouse.up()


def _open_template(page, slug_text: str) -> str:
    page.locator("#result_list a", has_text=slug_text).click()
    page.wait_for_url(re.compile(r"/\d+/change/"))
    return page.url.split("?")[0]


def test_cards_move_by_drag_into_and_out_of_steps(browser, studio_site, shot):
    context, page, watch = _wide_page(browser, studio_site, "en-US")
    _login(page, "/admin/catalog/workflowtemplate/?q=colour-pop")
    _open_template(page, "撞色滤镜")
    params = lambda: json.loads(page.locator("[data-params-json]").input_value())  # noqa: E731

    # The tint, dragged by its handle onto the photo: it joins the photo's step.
    tint = page.locator('[data-item="field"][data-name="3.color"]')
    photo = page.locator('[data-item="field"][data-name="1.image"]')
    photo.evaluate("card => card.scrollIntoView({block: 'start'})")
    photo_step = '[...document.querySelectorAll(\'[data-item="field"][data-name="1.image"]\')].at(-1).parentElement'
    _drag(page, tint.locator(".studio-drag"), photo, y=0.7,
          until=f"() => !!{photo_step}.querySelector('[data-name=\"3.color\"]')")  # fmt: skip
    page.wait_for_function(
        "() => JSON.parse(document.querySelector('[data-params-json]').value)[0].children.length === 2"
    )
    assert [c["key"] for c in params()[0]["children"]] == ["image", "color"]
    assert "color" not in [c["key"] for c in params()[1]["children"]]
    # A whole step, dragged by its handle above the first one.
    style = page.locator('[data-item="step"]', has=page.locator('input[data-prop="title"][value="风格"]'))
    first = page.locator('[data-items] > [data-item="step"]').first
    first.evaluate("step => step.scrollIntoView({block: 'start'})")
    first_title = 'document.querySelector(\'[data-items] > [data-item="step"] input[data-prop="title"]\').value'
    _drag(page, style.locator(":scope > .studio-step-head .studio-drag"), first, y=0.02,
          until=f"() => {first_title} === '风格'")  # fmt: skip
    page.wait_for_function("() => JSON.parse(document.querySelector('[data-params-json]').value)[0].title === '风格'")
    assert [p["title"] for p in params() if p["type"] == "group"][:2] == ["风格", "照片"]
    frame = page.frame_locator("iframe.studio-iframe")
    frame.locator("ol.steps > li.step:first-child legend", has_text="风格").wait_for()
    shot(page, "studio-06-dragged")
    context.close()
    watch.fail_on_csp_violations()


def test_groups_inside_groups_are_steps_inside_steps(browser, studio_site, tmp_path, shot):
    groups = [
        {"id": 1, "title": "Your picture", "bounding": [-40, -60, 1300, 300], "flags": {}},
        {"id": 2, "title": "Your photo", "bounding": [-20, -40, 280, 260], "flags": {}},
    ]
    workflow = tmp_path / "nested-steps.json"
    workflow.write_text(json.dumps(ui_workflow(groups)), encoding="utf-8")
    context, page, watch = _wide_page(browser, studio_site, "en-US")
    _login(page, "/admin/catalog/workflowtemplate/import/")
    page.locator('input[type="file"][name="file"]').set_input_files(str(workflow))
    page.locator('input[type="submit"]').click()
    page.wait_for_url(re.compile(r"/admin/catalog/workflowtemplate/\d+/change/$"))

    params = json.loads(page.locator("[data-params-json]").input_value())
    assert params[0]["title"] == "Your picture" and params[0]["children"][0]["title"] == "Your photo"
    assert params[0]["children"][0]["children"][0]["key"] == "image"
    outer = page.locator('[data-items] > [data-item="step"]').first
    inner = outer.locator(':scope > [data-items] > [data-item="step"]')
    assert outer.locator(":scope > .studio-step-head [data-prop=title]").input_value() == "Your picture"
    assert inner.locator(":scope > .studio-step-head [data-prop=title]").input_value() == "Your photo"
    assert inner.locator('[data-item="field"][data-name="1.image"]').count() == 1
    frame = page.frame_locator("iframe.studio-iframe")
    step = frame.locator("ol.steps > li.step", has=frame.locator("legend", has_text="Your picture"))
    step.locator("fieldset.substep > legend", has_text="Your photo").wait_for()
    assert step.locator('fieldset.substep input[type="file"][name="1.image"]').count() == 1

    # Saved as a draft, the nesting stays.
    page.locator('input[name="_continue"]').click()
    page.wait_for_url(re.compile(r"/change/$"))
    saved = json.loads(page.locator("[data-params-json]").input_value())
    assert saved[0]["children"][0]["children"][0]["key"] == "image"
    shot(page, "studio-07-nested-steps")
    context.close()
    watch.fail_on_csp_violations()


def test_a_save_based_on_an_older_version_is_refused_with_what_changed(browser, studio_site, shot):
    """Two operators on one draft: the second save says what the first changed and keeps what was typed."""
    ann_context, ann, ann_watch = _wide_page(browser, studio_site, "en-US")
    bob_context, bob, bob_watch = _wide_page(browser, studio_site, "en-US")
    for page in (ann, bob):
        _login(page, "/admin/catalog/workflowtemplate/?q=poster-frame")
        _open_template(page, "海报相框")

    ann.fill("#id_title", "Poster, by Ann")
    ann.locator('input[name="_continue"]').click()
    assert "Draft of “Poster, by Ann” saved" in ann.locator(".messagelist").inner_text()

    bob_title = bob.locator('[data-item="field"][data-name="1.image"] [data-prop="title"]')
    bob_title.fill("Your photo, by Bob")
    bob.wait_for_timeout(400)
    bob.locator('input[name="_continue"]').click()
    bob.wait_for_load_state()
    refusal = bob.locator(".errornote, ul.errorlist.nonfield").all_inner_texts()
    text = " ".join(refusal)
    assert "Someone else saved this template after you opened it" in text
    assert "changed the title to “Poster, by Ann”" in text
    assert bob_title.input_value() == "Your photo, by Bob", "nothing Bob typed is lost"
    assert bob.locator("#id_title").input_value() == "海报相框"
    shot(bob, "studio-08-stale-save-refused")

    # Saving again is Bob's deliberate choice: his version replaces Ann's.
    bob.locator('input[name="_continue"]').click()
    assert "saved" in bob.locator(".messagelist").inner_text()
    params = json.loads(bob.locator("[data-params-json]").input_value())
    assert params[0]["title"] == "Your photo, by Bob"
    for context in (ann_context, bob_context):
        context.close()
    ann_watch.fail_on_csp_violations()
    bob_watch.fail_on_csp_violations()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_editor_at_desktop_and_phone_sizes(browser, studio_site, locale, shot):
    for width, height in ((1280, 720), (390, 844)):
        context = browser.new_context(base_url=studio_site, locale=locale, viewport={"width": width, "height": height})
        context.set_default_timeout(20_000)
        watch = BrowserWatch(context)
        page = context.new_page()
        _login(page, "/admin/catalog/workflowtemplate/?q=colour-pop")
        _open_template(page, "撞色滤镜")
        page.frame_locator("iframe.studio-iframe").locator("ol.steps").wait_for()
        cut = page.evaluate(
            """() => Array.from(document.querySelectorAll("[data-editor] *"))
                .filter(el => el.getClientRects().length && el.getBoundingClientRect().right > innerWidth + 1)
                .map(el => el.outerHTML.slice(0, 80))"""
        )
        assert cut == [], f"parts of the editor stand past the right edge at {width}px: {cut[:3]}"
        found = [v for v in axe_violations(page) if any("studio" in node or "data-" in node for node in v["nodes"])]
        assert not found, f"the editor at {width}px: {found}"
        shot(page, f"studio-editor-{locale}-{width}x{height}")
        context.close()
        watch.fail_on_csp_violations()
