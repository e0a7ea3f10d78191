"""Share links: made by the visitor who owns the images, opened read-only by anyone holding one until it
expires, dead once stopped or once the images are deleted; owner-only routes refuse everyone else."""

from __future__ import annotations

import re
from datetime import timedelta

import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from comfyweb.campaigns.models import Campaign, ShareLink
from comfyweb.campaigns.qr import qr_svg
from comfyweb.jobs.models import Job, JobOutput
from tests.campaigns.shared_work import SECRET_PHOTO, SECRET_TEXT, finished_batch, finished_job, png
from tests.campaigns.streamed import body_of

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def share(client, url: str, days: int = 7) -> ShareLink:
    response = client.post(url, {"days": str(days)}, **EN)
    assert response.status_code == 302, response.content.decode()[:500]
    link = ShareLink.objects.order_by("-pk").first()
    assert response["Location"] == f"/me/shares/{link.pk}/"
    return link


def test_the_owner_makes_a_link_valid_for_the_days_chosen_and_sees_it_with_its_qr_code(client, visitor):
    job = finished_job(visitor)
    form = client.get(f"/jobs/{job.pk}/share/", **EN).content.decode()
    assert 'name="days" value="7" checked' in form and 'value="1"' in form and 'value="30"' in form
    before = timezone.now()
    link = share(client, f"/jobs/{job.pk}/share/", days=7)
    assert link.job == job and link.batch is None
    assert before + timedelta(days=7) <= link.expires_at <= timezone.now() + timedelta(days=7)
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", link.token), "144 random bits, URL-safe"
    page = client.get(f"/me/shares/{link.pk}/", **EN).content.decode()
    url = f"http://testserver/s/{link.token}/"
    assert f'value="{url}"' in page and f'src="/me/shares/{link.pk}/qr.svg"' in page
    assert f'href="/me/shares/{link.pk}/qr/"' in page and "Stop sharing" in page
    assert timezone.localtime(link.expires_at).strftime("%Y-%m-%d %H:%M") in page
    # A second visit of the share form shows the link already made instead of making another.
    assert client.get(f"/jobs/{job.pk}/share/")["Location"] == f"/me/shares/{link.pk}/"
    assert ShareLink.objects.count() == 1


def test_tokens_are_random(client, visitor):
    jobs = [finished_job(visitor) for _ in range(3)]
    tokens = {share(client, f"/jobs/{job.pk}/share/").token for job in jobs}
    assert len(tokens) == 3


def test_a_validity_not_offered_is_refused_with_a_message(client, visitor):
    job = finished_job(visitor)
    response = client.post(f"/jobs/{job.pk}/share/", {"days": "365"}, **EN)
    assert response.status_code == 400
    assert "Choose how long the link works: 1, 7, 30 days." in response.content.decode()
    assert client.post(f"/jobs/{job.pk}/share/", {"days": "soon"}).status_code == 400
    assert not ShareLink.objects.exists()


def test_nothing_finished_cannot_be_shared(client, visitor):
    job = finished_job(visitor, status=Job.Status.FAILED)
    page = client.get(f"/jobs/{job.pk}/share/", **EN).content.decode()
    assert "There is no finished image to share yet." in page and "data-share-create" not in page
    response = client.post(f"/jobs/{job.pk}/share/", {"days": "7"}, **EN)
    assert response.status_code == 400 and not ShareLink.objects.exists()


def test_the_shared_page_shows_the_images_and_nothing_of_the_visitor(client, visitor):
    job = finished_job(visitor, outputs=2)
    link = share(client, f"/jobs/{job.pk}/share/")
    stranger = Client()
    response = stranger.get(f"/s/{link.token}/", **EN)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("data-shared-image") == 2 and "Poster frame" in html
    for n in (1, 2):
        assert f'src="/s/{link.token}/images/{job.pk}/{n}/"' in html
        assert f'href="/s/{link.token}/images/{job.pk}/{n}/download/"' in html
    assert f'href="/s/{link.token}/download.zip"' in html
    for private in (SECRET_TEXT, SECRET_PHOTO, visitor, str(job.pk) + "/share", "/media/outputs/", "Stop sharing"):
        assert private not in html
    assert "sessionid" not in response.cookies, "opening a shared page starts no session"
    image = stranger.get(f"/s/{link.token}/images/{job.pk}/1/")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert body_of(image) == job.outputs.order_by("index")[0].file.read()
    download = stranger.get(f"/s/{link.token}/images/{job.pk}/2/download/")
    day = timezone.localtime(job.created_at).date().isoformat()
    assert download["Content-Disposition"] == f'attachment; filename="poster-frame-{day}-2.png"'
    assert stranger.get(f"/s/{link.token}/images/{job.pk}/3/").status_code == 404


def test_shared_answers_are_read_only_not_indexed_and_keep_the_token_to_themselves(client, visitor):
    job = finished_job(visitor)
    link = share(client, f"/jobs/{job.pk}/share/")
    stranger = Client()
    for path in (f"/s/{link.token}/", f"/s/{link.token}/images/{job.pk}/1/", "/s/not-a-real-token-at-all/"):
        response = stranger.get(path)
        assert response["X-Robots-Tag"] == "noindex, nofollow, noarchive", path
        assert response["Referrer-Policy"] == "same-origin", path
        assert "no-cache" in response["Cache-Control"] and "private" in response["Cache-Control"], path
    page = stranger.get(f"/s/{link.token}/")
    assert "default-src 'self'" in page["Content-Security-Policy"]
    html = page.content.decode()
    assert '<meta name="robots" content="noindex, nofollow, noarchive">' in html
    assert stranger.post(f"/s/{link.token}/").status_code in (403, 405), "nothing to send to a shared page"


def test_a_link_expires_when_the_clock_passes_its_time_with_a_page_that_says_so(client, visitor):
    batch, jobs = finished_batch(visitor, jobs=2)
    link = share(client, f"/batches/{batch}/share/", days=1)
    stranger = Client()
    assert stranger.get(f"/s/{link.token}/").status_code == 200
    with time_machine.travel(link.expires_at + timedelta(seconds=1), tick=False):
        page = stranger.get(f"/s/{link.token}/", **EN)
        assert page.status_code == 410
        html = page.content.decode()
        assert "This link has expired" in html and "Ask them for a new link." in html
        assert 'data-share-gone="expired"' in html and "data-shared-image" not in html
        assert stranger.get(f"/s/{link.token}/images/{jobs[0].pk}/1/").status_code == 404
        assert stranger.get(f"/s/{link.token}/download.zip").status_code == 404
        # The owner's page says it too, and a new link can be made.
        assert "This link has expired" in client.get(f"/me/shares/{link.pk}/", **EN).content.decode()
        assert client.get(f"/batches/{batch}/share/", **EN).status_code == 200
        # In Chinese as well.
        chinese = stranger.get(f"/s/{link.token}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
        assert "链接已过期" in chinese


def test_a_link_just_before_its_time_still_works(client, visitor):
    job = finished_job(visitor)
    link = share(client, f"/jobs/{job.pk}/share/", days=1)
    with time_machine.travel(link.expires_at - timedelta(seconds=1), tick=False):
        assert Client().get(f"/s/{link.token}/").status_code == 200
    with time_machine.travel(link.expires_at, tick=False):
        assert Client().get(f"/s/{link.token}/").status_code == 410


def test_stop_sharing_kills_the_link_at_once(client, visitor):
    job = finished_job(visitor)
    link = share(client, f"/jobs/{job.pk}/share/")
    response = client.post(f"/me/shares/{link.pk}/stop/", **EN, follow=True)
    assert "nobody can open it any more" in response.content.decode()
    assert response.redirect_chain[-1][0] == f"/jobs/{job.pk}/"
    gone = Client().get(f"/s/{link.token}/", **EN)
    assert gone.status_code == 404 and "This link does not work" in gone.content.decode()
    assert Client().get(f"/s/{link.token}/images/{job.pk}/1/").status_code == 404


def test_deleting_the_images_revokes_their_links(client, visitor):
    batch, jobs = finished_batch(visitor)
    single = finished_job(visitor)
    batch_link = share(client, f"/batches/{batch}/share/")
    single_link = share(client, f"/jobs/{single.pk}/share/")
    for key in (batch, single.pk):
        assert client.post("/me/delete/", {"key": str(key)}).status_code == 302
    assert not ShareLink.objects.exists(), "the links died with their jobs"
    stranger = Client()
    for link, job in ((batch_link, jobs[0]), (single_link, single)):
        assert stranger.get(f"/s/{link.token}/").status_code == 404
        assert stranger.get(f"/s/{link.token}/images/{job.pk}/1/").status_code == 404
    assert stranger.get(f"/s/{batch_link.token}/download.zip").status_code == 404


def test_a_batch_link_shows_every_finished_image_of_the_batch(client, visitor):
    batch, jobs = finished_batch(visitor, jobs=2, outputs=2)
    failed = finished_job(visitor, batch=batch, status=Job.Status.FAILED)
    link = share(client, f"/batches/{batch}/share/")
    assert link.batch == batch and link.job == jobs[0]
    html = Client().get(f"/s/{link.token}/", **EN).content.decode()
    assert html.count("data-shared-image") == 4 and "4 images shared with you" in html
    assert str(failed.pk) not in html


def test_owner_only_routes_answer_no_one_else(client, visitor, db):
    batch, jobs = finished_batch(visitor)
    link = share(client, f"/batches/{batch}/share/")
    own = [
        ("get", f"/jobs/{jobs[0].pk}/share/"),
        ("post", f"/jobs/{jobs[0].pk}/share/"),
        ("get", f"/batches/{batch}/share/"),
        ("post", f"/batches/{batch}/share/"),
        ("get", f"/batches/{batch}/download.zip"),
        ("get", f"/me/shares/{link.pk}/"),
        ("get", f"/me/shares/{link.pk}/qr/"),
        ("get", f"/me/shares/{link.pk}/qr.svg"),
        ("post", f"/me/shares/{link.pk}/stop/"),
    ]
    other = Client()
    other.get("/")
    staff = Client()
    staff.force_login(get_user_model().objects.create_user("op", password="x" * 12, is_staff=True))
    for someone in (other, staff, Client()):
        for method, path in own:
            response = getattr(someone, method)(path, {"days": "7"} if method == "post" else None)
            assert response.status_code == 404, (method, path, response.status_code)
    assert ShareLink.objects.filter(pk=link.pk).exists() and ShareLink.objects.count() == 1
    assert client.get(f"/batches/{batch}/download.zip").status_code == 200, "the owner still can"


def test_the_qr_code_is_the_links_own_url_as_an_svg_image(client, visitor):
    job = finished_job(visitor)
    link = share(client, f"/jobs/{job.pk}/share/")
    answer = client.get(f"/me/shares/{link.pk}/qr.svg")
    assert answer["Content-Type"] == "image/svg+xml" and "no-store" in answer["Cache-Control"]
    assert answer.content == qr_svg(f"http://testserver/s/{link.token}/")
    assert b"<script" not in answer.content and b"style=" not in answer.content
    big = client.get(f"/me/shares/{link.pk}/qr/", **EN).content.decode()
    assert 'class="qr-big"' in big and "Scan to take your image with you" in big


def test_a_link_never_outlives_the_campaigns_retention_of_the_images(client, visitor):
    Campaign.objects.create(slug="fair", title="庙会", keep_outputs_days=2)
    job = finished_job(visitor)
    Job.objects.filter(pk=job.pk).update(campaign="fair")
    link = share(client, f"/jobs/{job.pk}/share/", days=30)
    assert link.expires_at == job.created_at + timedelta(days=2), "the images are deleted after 2 days"
    old = finished_job(visitor)
    Job.objects.filter(pk=old.pk).update(campaign="fair", created_at=timezone.now() - timedelta(days=3))
    response = client.post(f"/jobs/{old.pk}/share/", {"days": "7"}, **EN)
    assert response.status_code == 400 and "can no longer be shared" in response.content.decode()
    plain = finished_job(visitor)  # no campaign: the site's retention (PURGE_KEEP_OUTPUTS_DAYS, 30 days)
    assert share(client, f"/jobs/{plain.pk}/share/", days=7).expires_at > timezone.now() + timedelta(days=6)


def test_an_image_held_back_is_never_shown_through_a_link(client, visitor):
    batch, jobs = finished_batch(visitor, jobs=2)
    JobOutput.objects.filter(job=jobs[1]).update(review=JobOutput.Review.WITHHELD)
    link = share(client, f"/batches/{batch}/share/")
    stranger = Client()
    html = stranger.get(f"/s/{link.token}/", **EN).content.decode()
    assert html.count("data-shared-image") == 1 and str(jobs[1].pk) not in html
    assert stranger.get(f"/s/{link.token}/images/{jobs[1].pk}/1/").status_code == 404
    assert stranger.get(f"/s/{link.token}/images/{jobs[1].pk}/1/download/").status_code == 404
    JobOutput.objects.filter(job=jobs[0]).update(review=JobOutput.Review.REMOVED)
    assert stranger.get(f"/s/{link.token}/").status_code == 404, "nothing left to show"
    assert client.post(f"/jobs/{jobs[1].pk}/share/", {"days": "7"}).status_code == 400
    JobOutput.objects.filter(job=jobs[1]).update(review=JobOutput.Review.RELEASED)
    assert stranger.get(f"/s/{link.token}/images/{jobs[1].pk}/1/").status_code == 200, "released by an operator"


def test_a_missing_file_is_a_clean_404(client, visitor):
    job = finished_job(visitor, data=png())
    link = share(client, f"/jobs/{job.pk}/share/")
    job.outputs.first().file.delete(save=False)
    assert Client().get(f"/s/{link.token}/images/{job.pk}/1/").status_code == 404


def test_delete_everything_of_mine_and_the_retention_purge_kill_links(client, visitor):
    from comfyweb.jobs.trust.purge import purge

    mine = finished_job(visitor)
    mine_link = share(client, f"/jobs/{mine.pk}/share/")
    assert client.post("/me/delete-everything/").status_code == 302
    assert Client().get(f"/s/{mine_link.token}/").status_code == 404
    other = Client()
    other.get("/")
    kept = finished_job(other.session.session_key)
    kept_link = share(other, f"/jobs/{kept.pk}/share/", days=30)
    assert kept_link.expires_at <= kept.created_at + timedelta(days=30), "the site keeps images 30 days"
    with time_machine.travel(kept.created_at + timedelta(days=30, seconds=1), tick=False):
        assert purge().jobs == 1
    assert not ShareLink.objects.exists()
    assert Client().get(f"/s/{kept_link.token}/").status_code == 404
