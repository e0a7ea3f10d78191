"""Two operators editing one draft: a save based on an older version is refused, saying what changed, and
nothing the second operator typed is lost."""

from __future__ import annotations

import copy
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from comfyweb.catalog import drafts, revisions
from comfyweb.catalog.models import WorkflowTemplate
from tests.catalog.test_drafts import change_url, editor_post


@pytest.fixture
def published(db, core_prompt, core_params) -> WorkflowTemplate:
    return WorkflowTemplate.objects.create(
        title="Colour test", slug="colour-test", prompt=core_prompt, params=core_params
    )


def operator_client(name: str) -> Client:
    user = get_user_model().objects.create_superuser(name, f"{name}@example.com", "pass-1234")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def revision_in(html: str) -> str:
    return re.search(r'name="revision" value="([^"]+)"', html).group(1)


def test_a_save_based_on_an_older_version_is_refused_with_what_changed(published, core_params):
    ann, bob = operator_client("ann"), operator_client("bob")
    ann_revision = revision_in(ann.get(change_url(published)).content.decode())
    bob_revision = revision_in(bob.get(change_url(published)).content.decode())

    # Ann saves first: a new title, the photo renamed, a text field added.
    ann_params = copy.deepcopy(core_params)
    ann_params[0]["title"] = "Your portrait"
    ann_params.append({"type": "string", "id": "5", "key": "filename_prefix", "title": "Name"})
    del ann_params[2]
    post = editor_post(published, published.prompt, ann_params, title="Summer tint", revision=ann_revision)
    assert ann.post(change_url(published), post).status_code == 302

    # Bob, still on the page he opened before, saves his own change: refused, with what Ann changed.
    bob_params = copy.deepcopy(core_params)
    bob_params[0]["description"] = "A face, well lit."
    post = editor_post(published, published.prompt, bob_params, title="Colour test by Bob", revision=bob_revision)
    response = bob.post(change_url(published), post)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Someone else saved this template after you opened it" in html
    assert "changed the title to “Summer tint”" in html
    assert "renamed the field “Photo” (1.image) to “Your portrait”" in html
    assert "renamed the field “Prefix” (5.filename_prefix) to “Name”" in html
    assert drafts.draft_of(published).title == "Summer tint", "Bob's save did not replace Ann's"
    # Nothing Bob typed is lost: the form shows his values again.
    assert 'value="Colour test by Bob"' in html and "A face, well lit." in html

    # Saving again from that page (it now carries the current revision) keeps Bob's version deliberately.
    post["revision"] = revision_in(html)
    assert bob.post(change_url(published), post).status_code == 302
    assert drafts.draft_of(published).title == "Colour test by Bob"


def test_publishing_or_discarding_by_another_operator_counts_as_a_change(published, core_params):
    before = revisions.editing_state(published.pk)
    drafts.save_draft(published, {**drafts.content_of(published), "title": "New"})
    drafts.publish(published)
    after = revisions.editing_state(published.pk)
    assert revisions.changes_between(before, after)[:2] == ["published it as version 2", "changed the title to “New”"]
    assert revisions.changes_between(after, after) == []


def test_a_save_without_a_revision_or_with_one_that_does_not_read_is_not_compared(published, core_params):
    client = operator_client("ann")
    for revision in ("", "not-a-token"):
        post = editor_post(published, published.prompt, core_params, title=f"T {revision}", revision=revision)
        assert client.post(change_url(published), post).status_code == 302
