"""Jobs (one run of a template for one visitor) and the GPU backends that run them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class GpuBackend(models.Model):
    """A ComfyUI or comfyweb/fc-comfyui agent that runs jobs, with a number of slots."""

    class Kind(models.TextChoices):
        AGENT = "agent", _("GPU agent")
        COMFYUI = "comfyui", _("plain ComfyUI")

    name = models.CharField(_("name"), max_length=100, unique=True)
    url = models.URLField(_("URL"), max_length=500)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.AGENT)
    slots = models.PositiveSmallIntegerField(_("concurrency (slots)"), default=1)
    enabled = models.BooleanField(_("enabled"), default=True)
    token = models.CharField(_("bearer token"), max_length=500, blank=True)
    healthy = models.BooleanField(_("healthy"), default=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_checked_at = models.DateTimeField(_("last checked"), null=True, blank=True)
    unhealthy_until = models.DateTimeField(_("skip until"), null=True, blank=True)
    from_env = models.BooleanField(_("from GPU_BACKENDS"), default=False, editable=False)
    emulated = models.BooleanField(
        _("ComfyUI emulator"), default=False, editable=False, help_text=_("It answered /emulator/info: no real GPU.")
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("GPU backend")
        verbose_name_plural = _("GPU backends")

    def __str__(self) -> str:
        return f"{self.name} ({self.kind} {self.url})"


class JobQuerySet(models.QuerySet):
    def without_prompt(self) -> JobQuerySet:
        """The jobs without their substituted prompt, which a page, a download or a watcher does not need.

        With the visitor's photos inlined as data URLs (CATALOG_IMAGE_INPUT=data_url, the default) the prompt
        is most of the row: ~1.5 MB for two phone photos, ~10 ms of CPU to decode on every read of the job
        (measured: 10 ms with it, 3 ms without). A running job's snapshot reads it for the current node's
        title; only then is it loaded.
        """
        return self.defer("prompt")


class Job(models.Model):
    """One durable run of a template: queued → dispatched → running → succeeded | failed | cancelled."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        DISPATCHED = "dispatched", _("dispatched")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    ACTIVE_STATUSES = (Status.QUEUED, Status.DISPATCHED, Status.RUNNING)
    FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    session_key = models.CharField(_("visitor session"), max_length=64, blank=True, db_index=True)
    client_ip = models.GenericIPAddressField(_("client IP"), null=True, blank=True, db_index=True)
    owner_key = models.CharField(
        _("visitor identity"), max_length=100, blank=True, db_index=True,
        help_text=_("Whom the fair queue and the visitor limits count this job for: the account, else the session."),
    )  # fmt: skip
    campaign = models.SlugField(_("campaign"), max_length=100, blank=True, db_index=True)
    batch = models.UUIDField(_("batch"), null=True, blank=True, db_index=True)
    retry_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retry",
        verbose_name=_("a new try of"), help_text=_("The job this one runs again; a job is tried again at most once."),
    )  # fmt: skip
    template = models.ForeignKey(
        "catalog.WorkflowTemplate", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    template_version = models.PositiveIntegerField(_("template version"), default=1)
    template_title = models.CharField(_("template title"), max_length=200, blank=True)
    params = models.JSONField(_("params it ran with"), default=list, blank=True)
    values = models.JSONField(_("user values"), default=dict, blank=True)
    prompt = models.JSONField(_("substituted prompt"), default=dict)
    seeds = models.JSONField(_("seeds used"), default=dict, blank=True)

    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    backend = models.ForeignKey(GpuBackend, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    fair_tag = models.BigIntegerField(
        _("place in the fair queue"), default=0, help_text=_("Fixed when queued; queued jobs start in tag order.")
    )
    not_before = models.DateTimeField(_("retry not before"), null=True, blank=True)
    claimed_by = models.CharField(_("worker"), max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(_("heartbeat"), null=True, blank=True)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)

    progress = models.JSONField(_("per-node progress"), default=dict, blank=True)
    percent = models.FloatField(_("overall percent"), default=0)
    current_node = models.CharField(_("current node"), max_length=200, blank=True)
    error = models.TextField(_("error"), blank=True)
    error_detail = models.JSONField(_("error detail"), null=True, blank=True)

    consent_version = models.CharField(
        _("consent text version"), max_length=120, blank=True,
        help_text=_("The consent the visitor gave for their photos (empty: none was asked for)."),
    )  # fmt: skip
    consent_at = models.DateTimeField(_("consent given"), null=True, blank=True)
    inputs_purged_at = models.DateTimeField(
        _("photos deleted"), null=True, blank=True, help_text=_("When the retention purge deleted the photos sent.")
    )

    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(_("dispatched"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["status", "fair_tag", "created_at"], name="jobs_fair_queue"),
            models.Index(fields=["owner_key", "-fair_tag"], name="jobs_owner_last_tag"),
        ]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")

    def __str__(self) -> str:
        return f"{self.template_title or 'job'} {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINAL_STATUSES

    def refresh_state(self) -> None:
        """Read the job again, all but its prompt: that never changes while the job runs and is most of the row
        (JobQuerySet.without_prompt), so a worker keeps the one it holds."""
        self.refresh_from_db(fields=[f.name for f in self._meta.concrete_fields if f.name not in ("id", "prompt")])


class JobOutput(models.Model):
    """An output image of a job, copied from the GPU backend into Django storage."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="outputs")
    node_id = models.CharField(_("node"), max_length=100)
    index = models.PositiveSmallIntegerField(_("index"), default=0)
    file = models.FileField(_("file"), upload_to="outputs/%Y/%m/%d/")
    thumbnail = models.ImageField(_("thumbnail"), upload_to="thumbnails/%Y/%m/%d/", blank=True)
    filename = models.CharField(_("original file name"), max_length=300)
    content_type = models.CharField(_("content type"), max_length=100, default="image/png")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Review(models.TextChoices):
        PASSED = "passed", _("passed the checks")
        WITHHELD = "withheld", _("withheld for review")
        RELEASED = "released", _("released by an operator")
        REMOVED = "removed", _("deleted by an operator")

    review = models.CharField(
        _("moderation"), max_length=10, choices=Review.choices, default=Review.PASSED, db_index=True
    )
    review_detail = models.JSONField(_("what the checks found"), default=dict, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("reviewed by"),
    )  # fmt: skip
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)

    class Meta:
        ordering = ["node_id", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "node_id", "index"], name="unique_job_output")]

    def __str__(self) -> str:
        return f"{self.job_id} node {self.node_id} #{self.index}"

    @property
    def is_withheld(self) -> bool:
        """Visitors never see a withheld output (pages, media URLs, downloads): an operator reviews it first.

        One an operator deleted stays as a row without files, so the visitor's card still says why.
        """
        return self.review in (self.Review.WITHHELD, self.Review.REMOVED)


class WithheldOutput(JobOutput):
    """The admin's review queue: outputs the moderation checks held back."""

    class Meta:
        proxy = True
        verbose_name = _("withheld image")
        verbose_name_plural = _("review queue (withheld images)")


class StoredInput(models.Model):
    """A visitor's photo in storage (`inputs/…`, stored once per content): when it was last stored.

    Photos kept after a refused form but never submitted are found here, and expire after
    PURGE_KEPT_PHOTOS_HOURS (jobs.trust.purge).
    """

    name = models.CharField(_("storage name"), max_length=300, unique=True)
    stored_at = models.DateTimeField(_("last stored"), db_index=True)

    class Meta:
        verbose_name = _("stored photo")
        verbose_name_plural = _("stored photos")

    def __str__(self) -> str:
        return self.name


class WordList(models.Model):
    """Words and phrases the operators refuse in visitors' text (one per line; case is ignored)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    words = models.TextField(_("words"), blank=True, help_text=_("One word or phrase per line."))
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("word list")
        verbose_name_plural = _("word lists")

    def __str__(self) -> str:
        return self.name

    def terms(self) -> list[str]:
        return [line.strip().casefold() for line in self.words.splitlines() if line.strip()]


class ModerationTally(models.Model):
    """Counts and time of the moderation checks, pool-wide (web processes check inputs, workers outputs)."""

    stage = models.CharField(max_length=10)  # input | output
    kind = models.CharField(max_length=10)  # image | text
    outcome = models.CharField(max_length=10)  # passed | blocked | error
    checks = models.PositiveBigIntegerField(default=0)
    seconds = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stage", "kind", "outcome"], name="moderation_tally_once")]

    def __str__(self) -> str:
        return f"{self.stage}/{self.kind}/{self.outcome}: {self.checks}"
