"""Workflow templates: a ComfyUI API-format prompt plus the `params` panels users fill in."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from comfyweb.catalog.params import validate_template
from comfyweb.catalog.translations import Localized, validate_translations


class WorkflowTemplate(models.Model):
    """One runnable workflow as operators publish it (the fc-comfyui template format).

    `version` goes up whenever `prompt` or `params` change; jobs keep their own copy of the
    prompt and params they ran with, so editing a template never rewrites history.
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
    ordering = models.IntegerField(_("ordering"), default=0)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["ordering", "id"]
        verbose_name = _("workflow template")
        verbose_name_plural = _("workflow templates")

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs) -> None:
        """Bump `version` when what a job would run changes."""
        if self.pk is not None:
            old = type(self).objects.filter(pk=self.pk).values("prompt", "params").first()
            if old and (old["prompt"] != self.prompt or old["params"] != self.params):
                self.version += 1
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("campaigns:template", kwargs={"slug": self.slug})

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
