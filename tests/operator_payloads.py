"""A corpus of markup payloads put in every operator-provided field, and a check that none became markup.

Used by tests/campaigns/test_operator_text_escaped.py (Django test client, DOM assertions on every
visitor, admin and API page) and tests/browser/test_operator_text.py (real chromium: no dialog opens).
"""

from __future__ import annotations

import uuid
from html.parser import HTMLParser

MARK = "pwn"  # every payload calls alert() with a string containing it

PAYLOADS = [
    f'<script>alert("{MARK}1")</script>',
    f'<img src=x onerror=alert("{MARK}2")>',
    f'<svg/onload=alert("{MARK}3")>',
    f'"><img src=x onerror=alert("{MARK}4")>',  # breaks out of a double-quoted attribute
    f"'><svg onload=alert('{MARK}5')>",  # ... of a single-quoted one
    f'" autofocus onfocus="alert(\'{MARK}6\')" x="',  # adds attributes without a tag
    f'</textarea><script>alert("{MARK}7")</script>',
    f'</title><script>alert("{MARK}8")</script>',
    f"<a href=\"javascript:alert('{MARK}9')\">click</a>",
    f"<iframe srcdoc=\"<script>alert('{MARK}10')</script>\"></iframe>",
    f'</style><script>alert("{MARK}11")</script>',
    f'<math><mtext><table><mglyph><style><img src=x onerror=alert("{MARK}12")>',
    f'<details open ontoggle=alert("{MARK}13")>',
    f'{{{{ 7|add:"{MARK}14" }}}}{{% debug %}}',  # template syntax is text too
]
TEXT = " ".join(PAYLOADS)  # what every free-text operator field holds
URL_PAYLOADS = [
    f"javascript:alert('{MARK}15')",
    f"data:text/html,<script>alert('{MARK}16')</script>",
    f"x\" onerror=\"alert('{MARK}17')",
    f"//evil.example/{MARK}18.png",
]
UNEXPECTED_TAGS = {"iframe", "object", "embed", "frame", "frameset", "base", "mglyph"}  # (the admin draws <svg> icons)
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "srcset", "poster", "xlink:href", "data", "background"}


def payload_prompt() -> dict:
    """Core image nodes; node titles and the text default are payloads as well."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "", "upload": "image"}, "_meta": {"title": TEXT}},
        "2": {
            "class_type": "ImageScale",
            "inputs": {"image": ["1", 0], "upscale_method": "bilinear", "width": 64, "height": 64, "crop": "center"},
            "_meta": {"title": TEXT},
        },
        "3": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 255}},
        "4": {
            "class_type": "ImageBlend",
            "inputs": {"image1": ["2", 0], "image2": ["3", 0], "blend_factor": 0.5, "blend_mode": "multiply"},
            "_meta": {"title": TEXT},
        },
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": TEXT}},
    }


def payload_params() -> list:
    return [
        {
            "type": "image",
            "id": "1",
            "key": "image",
            "title": TEXT,
            "description": TEXT,
            "options": ["/static/workflows/couple-mask.png", f"/static/{PAYLOADS[1]}.png", *URL_PAYLOADS],
        },
        {
            "type": "group",
            "title": TEXT,
            "children": [
                {
                    "type": "select",
                    "id": "4",
                    "key": "blend_mode",
                    "title": TEXT,
                    "description": TEXT,
                    "options": ["multiply", TEXT],
                    "labels": [TEXT, PAYLOADS[3]],
                },
                {
                    "type": "number",
                    "id": "4",
                    "key": "blend_factor",
                    "title": TEXT,
                    "description": TEXT,
                    "min": 0,
                    "max": 1,
                    "step": 0.1,
                },
            ],
        },
        {"type": "string", "id": "5", "key": "filename_prefix", "title": TEXT, "description": TEXT},
    ]


def seed_payloads(*, session_key: str = "", owner=None) -> dict:
    """Templates, a campaign and jobs whose every operator-provided string is a payload."""
    from comfyweb.campaigns.models import Campaign, CampaignTemplate
    from comfyweb.catalog.models import WorkflowTemplate
    from comfyweb.jobs.models import Job

    def translated(model, texts: dict) -> dict:
        """Operators' texts in the other language too, where the model keeps translations."""
        fields = {field.name for field in model._meta.get_fields()}
        return {"translations": {"en": texts}} if "translations" in fields else {}

    template_texts = {
        "title": TEXT,
        "description": TEXT,
        "params": {
            "1.image": {"title": TEXT, "description": TEXT},
            "4.blend_mode": {"title": TEXT, "description": TEXT, "labels": [TEXT, PAYLOADS[5]]},
            "4.blend_factor": {"title": TEXT, "description": TEXT},
            "5.filename_prefix": {"title": TEXT, "description": TEXT},
            "group:1": {"title": TEXT},
        },
    }
    templates = []
    for index, cover in enumerate([URL_PAYLOADS[0], URL_PAYLOADS[2], URL_PAYLOADS[1]]):
        templates.append(
            WorkflowTemplate.objects.create(
                slug=f"payload-{index}",
                title=TEXT,
                description=TEXT,
                notes=TEXT,
                cover=cover,
                prompt=payload_prompt(),
                params=payload_params(),
                enabled=True,
                **translated(WorkflowTemplate, template_texts),
            )
        )
    campaign = Campaign.objects.create(
        slug="payload-campaign",
        title=TEXT,
        subtitle=TEXT,
        intro=TEXT + "\nsecond line " + TEXT,
        hero_image=URL_PAYLOADS[2],
        primary_color=PAYLOADS[10],
        accent_color=PAYLOADS[4],
        **translated(Campaign, {"title": TEXT, "subtitle": TEXT, "intro": TEXT}),
    )
    for position, template in enumerate(templates):
        CampaignTemplate.objects.create(campaign=campaign, template=template, position=position)
    batch = uuid.uuid4()
    common = {
        "template": templates[0],
        "template_title": TEXT,
        "params": payload_params(),
        "prompt": payload_prompt(),
        "values": {"5.filename_prefix": TEXT},
        "session_key": session_key,
        "owner": owner,
        "batch": batch,
        "campaign": campaign.slug,
    }
    running = Job.objects.create(
        status=Job.Status.RUNNING,
        percent=40,
        progress={"": {"node": "4", "value": 1, "max": 2}, "4": {"value": 3, "max": 8}},
        current_node="4",
        **common,
    )
    failed = Job.objects.create(status=Job.Status.FAILED, error=TEXT, **common)
    return {"templates": templates, "campaign": campaign, "jobs": [running, failed], "batch": batch}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []
        self._raw_element: str | None = None

    def handle_starttag(self, tag, attrs):
        self._check(tag, attrs)
        if tag in ("script", "style"):
            self._raw_element = tag

    def handle_startendtag(self, tag, attrs):
        self._check(tag, attrs)

    def handle_endtag(self, tag):
        if tag == self._raw_element:
            self._raw_element = None

    def handle_data(self, data):
        if self._raw_element is not None:
            if "alert(" in data or MARK in data:
                self.problems.append(f"payload inside <{self._raw_element}>: {data.strip()[:80]!r}")
        else:
            self.text.append(data)

    def _check(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in UNEXPECTED_TAGS:
            self.problems.append(f"<{tag}> element: {attrs!r:.120}")
        names = {name for name, _value in attrs}
        if tag == "script" and "src" not in names and dict(attrs).get("type") != "application/json":
            if "nonce" not in names:
                self.problems.append("inline <script> without a nonce")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> event handler: {value[:80]!r}")
            if MARK in name or "alert" in name or '"' in name or "'" in name:
                self.problems.append(f"<{tag}> attribute name from a payload: {name!r}")
            squashed = "".join(value.split()).lower()
            if name in URL_ATTRIBUTES and squashed.startswith(("javascript:", "data:text/html", "vbscript:")):
                self.problems.append(f"<{tag} {name}={value[:80]!r}> script URL")
            if name in URL_ATTRIBUTES and name != "value" and MARK in value and value.startswith("//"):
                self.problems.append(f"<{tag} {name}={value[:80]!r}> another host")
            if name in ("style", "srcdoc") and (MARK in value or ("url(" in value and "javascript" in squashed)):
                self.problems.append(f"<{tag} {name}={value[:80]!r}> payload in {name}")


def markup_problems(html: str) -> list[str]:
    """Every way a payload shows up as markup rather than text (an empty list when all is escaped)."""
    collector = _Collector()
    collector.feed(html)
    collector.close()
    problems = list(collector.problems)
    for payload in [*PAYLOADS, *URL_PAYLOADS]:
        if any(c in payload for c in "<>\"'") and payload in html:
            problems.append(f"payload verbatim in the HTML: {payload[:80]!r}")
    return problems


def visible_text(html: str) -> str:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return " ".join(collector.text)


def visitor_pages(seeded) -> list[str]:
    """Every visitor page that shows operator text, for the seeded payloads."""
    template, campaign = seeded["templates"][0], seeded["campaign"]
    running, failed = seeded["jobs"]
    return [
        "/",
        f"/c/{campaign.slug}/",
        f"/c/{campaign.slug}/t/{template.slug}/",
        *[f"/t/{t.slug}/" for t in seeded["templates"]],
        f"/jobs/{running.id}/",
        f"/jobs/{failed.id}/",
        f"/batches/{seeded['batch']}/",
        "/me/",
    ]
