"""Campaigns: a themed landing page that offers a chosen, ordered set of workflow templates."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.translations import Localized, validate_translations

TRANSLATED_FIELDS = ("title", "subtitle", "intro", "consent_text", "privacy_purpose")
CONSENT_TEXTS = ("consent_text",)  # a change to these (any language) is a new consent version


class LabelPosition(models.TextChoices):
    BOTTOM_RIGHT = "bottom-right", _("bottom right")
    BOTTOM_LEFT = "bottom-left", _("bottom left")
    TOP_RIGHT = "top-right", _("top right")
    TOP_LEFT = "top-left", _("top left")


def _fraction(verbose: str, help_text: str) -> models.FloatField:
    return models.FloatField(
        verbose, null=True, blank=True, help_text=help_text,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
    )  # fmt: skip


class Campaign(models.Model):
    """What operators launch for an event: its look, its templates, its time window and its quota."""

    slug = models.SlugField(_("slug"), max_length=100, unique=True, allow_unicode=True)
    title = models.CharField(_("title"), max_length=200)
    subtitle = models.CharField(_("subtitle"), max_length=300, blank=True)
    intro = models.TextField(_("introduction"), blank=True)
    hero_image = models.CharField(
        _("hero image"), max_length=500, blank=True, help_text=_("An image URL or a path under /static/.")
    )
    primary_color = models.CharField(_("primary colour"), max_length=7, default="#e4487a")
    accent_color = models.CharField(_("accent colour"), max_length=7, default="#6d5dfc")
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    daily_quota = models.PositiveIntegerField(
        _("jobs per visitor per day"), default=0, help_text=_("0 means no limit.")
    )
    translations = models.JSONField(
        _("translations"),
        default=dict,
        blank=True,
        help_text=_("What visitors read in other languages; an empty text shows the default language's."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)

    # Trust (docs/privacy.md): consent, the privacy statement, retention, moderation, labels. Empty: the site's default.
    consent_required = models.BooleanField(
        _("ask consent for photos of people"),
        default=False,
        help_text=_("Visitors must tick the consent box before their photos are used."),
    )
    consent_text = models.TextField(
        _("consent text"), blank=True, help_text=_("What visitors agree to. Empty: the site's default text.")
    )
    consent_version = models.PositiveIntegerField(
        _("consent text version"), default=1, editable=False, help_text=_("Goes up whenever the consent text changes.")
    )
    privacy_purpose = models.TextField(
        _("why the photos are used"),
        blank=True,
        help_text=_("The purpose, in the privacy statement. Empty: the site's default text."),
    )
    keep_uploads_days = models.PositiveIntegerField(
        _("keep photos (days)"), null=True, blank=True, help_text=_("Photos visitors send. Empty: the site's default.")
    )
    keep_outputs_days = models.PositiveIntegerField(
        _("keep images (days)"), null=True, blank=True, help_text=_("Images made. Empty: the site's default.")
    )
    input_threshold = _fraction(
        _("photo check threshold"), _("0–1: a photo the check scores at least this explicit is refused. Empty: site.")
    )
    output_threshold = _fraction(
        _("image check threshold"), _("0–1: an image scored at least this explicit is withheld. Empty: site.")
    )
    label_visible = models.BooleanField(
        _("visible AI label"), null=True, blank=True, help_text=_("Draw the label on images. Empty: the site's.")
    )
    label_text = models.CharField(
        _("label text"), max_length=60, blank=True, help_text=_("Empty: the site's default (e.g. “AI生成”).")
    )
    label_badge = models.ImageField(
        _("label badge"), upload_to="badges/", blank=True, help_text=_("An image drawn instead of the text.")
    )
    label_position = models.CharField(
        _("label position"), max_length=12, choices=LabelPosition.choices, default=LabelPosition.BOTTOM_RIGHT
    )
    label_size = models.PositiveSmallIntegerField(
        _("label size (%)"),
        default=5,
        validators=[MinValueValidator(2), MaxValueValidator(30)],
        help_text=_(
            "Height of the label as a percentage of the image's shorter side (GB 45438-2025 asks for at least 5)."
        ),
    )

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs) -> None:
        """A changed consent text (in any language) is a new version: jobs record which one visitors agreed to."""
        if self.pk is not None:
            old = type(self).objects.filter(pk=self.pk).values("consent_text", "translations").first()
            if old is not None and consent_texts(old["consent_text"], old["translations"]) != consent_texts(
                self.consent_text, self.translations
            ):
                self.consent_version += 1
                if kwargs.get("update_fields") is not None:
                    kwargs["update_fields"] = {*kwargs["update_fields"], "consent_version"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("campaigns:campaign", kwargs={"slug": self.slug})

    @property
    def i18n(self) -> Localized:
        """The visitor's texts: `i18n.title`, `i18n.subtitle`, `i18n.intro`."""
        return Localized(self, TRANSLATED_FIELDS)

    def clean(self) -> None:
        problems = validate_translations(self.translations)
        if problems:
            raise ValidationError({"translations": problems})

    @property
    def privacy_url(self) -> str:
        return reverse("campaigns:campaign_privacy", kwargs={"slug": self.slug})

    def window_state(self, now=None) -> str:
        """'upcoming', 'open' or 'ended': pages explain politely when a campaign is not running."""
        now = now or timezone.now()
        if self.starts_at and now < self.starts_at:
            return "upcoming"
        if self.ends_at and now >= self.ends_at:
            return "ended"
        return "open"

    def ordered_templates(self):
        """The published, enabled templates this campaign offers, in the operator's order."""
        return (
            WorkflowTemplate.objects.visible()
            .filter(campaign_entries__campaign=self)
            .order_by("campaign_entries__position", "campaign_entries__id")
        )


def consent_texts(text: str, translations: object) -> dict:
    """The consent text in every language, to compare versions."""
    texts = {"": (text or "").strip()}
    for language, entry in (translations or {}).items() if isinstance(translations, dict) else []:
        if isinstance(entry, dict):
            for name in CONSENT_TEXTS:
                value = entry.get(name)
                if isinstance(value, str) and value.strip():
                    texts[f"{language}.{name}"] = value.strip()
    return texts


class CampaignTemplate(models.Model):
    """One template offered by a campaign, at a position."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="entries")
    template = models.ForeignKey("catalog.WorkflowTemplate", on_delete=models.CASCADE, related_name="campaign_entries")
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "template"], name="campaign_template_once")]
        verbose_name = _("offered template")
        verbose_name_plural = _("offered templates")

    def __str__(self) -> str:
        return f"{self.campaign} / {self.template}"


class ShareLink(models.Model):
    """A read-only link to a visitor's images (one job's, or a whole batch's) that whoever holds it may open.

    The token is random and stored: the link works while its row exists and has not expired. It dies with
    the job it names (a batch link names the batch's first job), so deleting the images, by the visitor or
    by the retention purge, makes every link to them dead; "stop sharing" deletes the row itself.
    """

    token = models.CharField(_("token"), max_length=64, unique=True)
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="share_links")
    batch = models.UUIDField(_("batch"), null=True, blank=True, help_text=_("Empty: the link shows one job's images."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"), db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("share link")
        verbose_name_plural = _("share links")

    def __str__(self) -> str:
        return f"share link of {'batch ' + str(self.batch) if self.batch else 'job ' + str(self.job_id)}"

    def get_absolute_url(self) -> str:
        return reverse("campaigns:shared", kwargs={"token": self.token})

    def is_expired(self, now=None) -> bool:
        return (now or timezone.now()) >= self.expires_at
