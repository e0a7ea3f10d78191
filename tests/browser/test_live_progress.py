"""The job page moves step by step and shows the picture forming: a 20-step sampler at 100 ms a step."""

from __future__ import annotations

import json
import re

import pytest

from tests.browser.conftest import _new_page, running_site
from tests.prompts import sampler_workflow

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STEPS = 20
CREATE_TEMPLATE = """
import json
from comfyweb.catalog.models import WorkflowTemplate
WorkflowTemplate.objects.create(title="Twenty steps", slug="twenty-steps", enabled=True, prompt=json.loads({prompt!r}))
"""
# Every text the job's status line takes, with the moment it took it.
RECORD_STATUS = """
window.statusTexts = [];
window.previewsShown = 0;
new MutationObserver((changes) => {
  const el = document.querySelector("[data-status-text]");
  if (el) window.statusTexts.push(el.textContent);
  for (const change of changes) {
    const img = change.target;
    if (change.attributeName === "src" && img.matches && img.matches("img[data-preview]")
        && (img.getAttribute("src") || "").startsWith("data:image/jpeg")) window.previewsShown += 1;
  }
}).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
"""


@pytest.fixture(scope="module")
def sampler_site(tmp_path_factory):
    """`manage.py serve` whose emulator takes 100 ms a sampler step, with a 20-step template."""
    script = CREATE_TEMPLATE.format(prompt=json.dumps(sampler_workflow(steps=STEPS)))
    with running_site(
        tmp_path_factory.mktemp("steps"), env={"EMULATOR_STEP_MS": "100"}, prepare=[["shell", "-c", script]]
    ) as url:
        yield url


def test_the_job_page_shows_nearly_every_step_and_the_last_one(browser, sampler_site):
    context, page, watch = _new_page(browser, sampler_site)
    context.add_init_script(RECORD_STATUS)
    page.goto("/t/twenty-steps/")
    page.locator('.qty:has(input[value="1"])').click()
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/jobs/"))
    page.wait_for_selector('[data-job-id][data-status="succeeded"]', timeout=30_000)
    texts = page.evaluate("window.statusTexts")
    previews_shown = page.evaluate("window.previewsShown")
    page.wait_for_selector("img[data-output]")
    preview_left = page.locator("img[data-preview]:not([hidden])").count()
    steps = {int(match.group(1)) for text in texts if (match := re.search(rf"(\d+)/{STEPS}\b", text))}
    context.close()
    watch.fail_on_csp_violations()
    assert len(steps) >= 0.8 * STEPS, f"the page showed steps {sorted(steps)} of {STEPS}"
    assert STEPS in steps, "the sampler's last step was shown"
    assert previews_shown >= 2, "the picture was seen forming"
    assert preview_left == 0, "the result took the preview's place"
