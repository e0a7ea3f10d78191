"""Workflow templates: a ComfyUI API-format prompt plus the `params` panels users fill in.

A template's own fields hold what visitors see: its published version. Every published version is kept
as a `TemplateVersion`, and so is the operator's draft (a version not published yet, at most one per
template), which the admin edits; `catalog.drafts` saves, publishes, discards and restores them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comfyweb.catalog.params import validate_template
from comfyweb.catalog.translations import Localized, validate_translations

# What a version holds: everything visitors see. The other fields (slug, notes, enabled…) are settings that
# apply at once.
CONTENT_FIELDS = ("title", "description", "cover", "prompt", "params", "translations")


class WorkflowTemplateQuerySet(models.QuerySet):
    def visible(self):
        """The templates visitors may see and run: published and enabled."""
        return self.filter(enabled=True, published_at__isnull=False)


class WorkflowTemplate(models.Model):
    """One runnable workflow as operators publish it (the fc-comfyui template format).

    The fields hold the published version (number `version`); a template the admin created and never
    published holds its draft and has no `published_at` (visitors never see it). Saving the content
    publishes it: `version` goes up whenever `prompt` or `params` change, and the version is kept as a
    `TemplateVersion`. Jobs keep their own copy of the prompt and params they ran with and the version
    number, so editing a template never rewrites history.
    """

    title = models.CharField(_("title"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=100, unique=True, allow_unicode=True)
    description = models.TextField(_("description"), blank=True, help_text=_("Shown to visitors."))
    notes = models.TextField(
        _("operator notes"), blank=True, help_text=_("For operators only: where the workflow comes from, its models.")
    )
    cover = models.CharField(
        _("cover image"), max_length=500, blank=True, help_text=_("An image URL or a path under /static/.")
    )
    prompt = models.JSONField(_("ComfyUI prompt (API format)"), default=dict)
    params = models.JSONField(_("params"), default=list, blank=True)
    translations = models.JSONField(
        _("translations"),
        default=dict,
        blank=True,
        help_text=_("What visitors read in other languages; an empty text shows the default language's."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    live_previews = models.BooleanField(
        _("live previews"),
        null=True,
        blank=True,
        help_text=_("Show visitors the picture forming while the sampler runs. Empty: the site's default."),
    )
    requires_consent = models.BooleanField(
        _("photos of people: ask for consent"),
        default=False,
        help_text=_(
            "Visitors must tick the consent box before their photos are used (the campaign's consent text, "
            "else the site's). Campaigns can ask for it too."
        ),
    )
    ordering = models.IntegerField(_("ordering"), default=0)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    published_at = models.DateTimeField(
        _("published"), null=True, blank=True, editable=False, help_text=_("Empty: never published (a draft).")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = WorkflowTemplateQuerySet.as_manager()

    class Meta:
        ordering = ["ordering", "id"]
        verbose_name = _("workflow template")
        verbose_name_plural = _("workflow templates")

    def __str__(self) -> str:
        return self.title

    def save(self, *args, as_draft: bool = False, new_version: bool = False, **kwargs) -> None:
        """Publish the content: a new `version` when what a job would run changes (or `new_version`), kept
        as a TemplateVersion.

        `as_draft` saves a template that was never published without publishing it (the admin's new
        templates); a save whose `update_fields` hold no content (settings such as `enabled`) publishes
        nothing either.
        """
        update_fields = kwargs.get("update_fields")
        if as_draft or (update_fields is not None and not set(update_fields) & set(CONTENT_FIELDS)):
            super().save(*args, **kwargs)
            return
        with transaction.atomic(using=kwargs.get("using")):
            old = None
            if self.pk is not None:
                old = type(self).objects.filter(pk=self.pk).values("prompt", "params", "published_at").first()
            runs_changed = old is not None and (old["prompt"] != self.prompt or old["params"] != self.params)
            first = old is None or old["published_at"] is None
            if old is not None and (runs_changed or first or new_version):
                self.version = self.next_version_number()
            if first or runs_changed or new_version or self.published_at is None:
                self.published_at = timezone.now()
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "version", "published_at"}
            super().save(*args, **kwargs)
            TemplateVersion.objects.update_or_create(
                template=self,
                number=self.version,
                defaults={**{name: getattr(self, name) for name in CONTENT_FIELDS}, "published_at": self.published_at},
            )

    def get_absolute_url(self) -> str:
        return reverse("campaigns:template", kwargs={"slug": self.slug})

    def next_version_number(self) -> int:
        """The number the next published version gets (1 for the first)."""
        if self.pk is None:
            return 1
        highest = self.versions.aggregate(n=Max("number"))["n"] or 0
        published = type(self).objects.filter(pk=self.pk, published_at__isnull=False).values_list("version", flat=True)
        return max([highest, *published]) + 1

    @property
    def is_visible(self) -> bool:
        """Whether visitors see it (published and enabled)."""
        return self.enabled and self.published_at is not None

    @property
    def shows_live_previews(self) -> bool:
        return settings.JOB_LIVE_PREVIEWS if self.live_previews is None else self.live_previews

    @property
    def i18n(self) -> Localized:
        """The visitor's texts: `i18n.title`, `i18n.description`, `i18n.params` (see catalog.translations)."""
        return Localized(self, ("title", "description"))

    def clean(self) -> None:
        """Refuse a prompt/params pair that cannot run; each problem names the panel and the reason."""
        problems = validate_template(self.prompt, self.params)
        translation_problems = validate_translations(self.translations)
        if problems or translation_problems:
            by_field: dict[str, list[str]] = {}
            for problem in problems:
                by_field.setdefault(problem.field, []).append(str(problem))
            if translation_problems:
                by_field["translations"] = translation_problems
            raise ValidationError(by_field)


class TemplateVersion(models.Model):
    """One version of a template's content: published (it has a `number` and `published_at`) or the draft.

    A template has at most one draft: the version the admin's editor saves, which visitors never see until
    it is published. Published versions stay as they were, so an earlier one can be viewed and restored
    (as the draft); jobs name the version they ran (`Job.template_version`; 0 for a test run of a draft).
    """

    template = models.ForeignKey(WorkflowTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"), null=True, blank=True)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    cover = models.CharField(_("cover image"), max_length=500, blank=True)
    prompt = models.JSONField(_("ComfyUI prompt (API format)"), default=dict)
    params = models.JSONField(_("params"), default=list, blank=True)
    translations = models.JSONField(_("translations"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("edited by"),
    )
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("published by"),
    )

    class Meta:
        ordering = ["template", "-published_at", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="template_version_number_once"),
            models.UniqueConstraint(
                fields=["template"], condition=Q(published_at__isnull=True), name="template_one_draft"
            ),
        ]
        verbose_name = _("template version")
        verbose_name_plural = _("template versions")

    def __str__(self) -> str:
        return f"{self.template_id} v{self.number}" if self.number else f"{self.template_id} draft"

    @property
    def is_draft(self) -> bool:
        return self.published_at is None

    def content(self) -> dict:
        return {name: getattr(self, name) for name in CONTENT_FIELDS}
