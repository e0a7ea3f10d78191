"""Operators edit campaigns and their ordered templates in the Django admin."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from comfyweb.campaigns.models import TRANSLATED_FIELDS, Campaign, CampaignTemplate
from comfyweb.campaigns.theme import HEX_COLOUR
from comfyweb.campaigns.trust import campaign_policy, days
from comfyweb.catalog.translations import TranslationsFormMixin
from comfyweb.jobs.trust.purge import upcoming_purges

TRUST_FIELDS = [
    "consent_required",
    "consent_text",
    "privacy_purpose",
    "keep_uploads_days",
    "keep_outputs_days",
    "input_threshold",
    "output_threshold",
    "label_visible",
    "label_text",
    "label_badge",
    "label_position",
    "label_size",
]


class CampaignTemplateInline(admin.TabularInline):
    model = CampaignTemplate
    extra = 1
    autocomplete_fields = ()
    fields = ("template", "position")


class CampaignForm(TranslationsFormMixin, forms.ModelForm):
    """The campaign's texts in the default language, and beside them in every other site language."""

    translated_fields = TRANSLATED_FIELDS

    class Meta:
        model = Campaign
        fields = [
            "title",
            "slug",
            "subtitle",
            "intro",
            "hero_image",
            "enabled",
            "translations",
            "primary_color",
            "accent_color",
            "starts_at",
            "ends_at",
            "daily_quota",
            *TRUST_FIELDS,
        ]
        widgets = {
            "primary_color": forms.TextInput(attrs={"type": "color"}),
            "accent_color": forms.TextInput(attrs={"type": "color"}),
        }

    def _colour(self, name: str) -> str:
        """Colours reach a stylesheet (theme.css): only a plain #rgb/#rrggbb value, never CSS."""
        value = (self.cleaned_data.get(name) or "").strip()
        if not HEX_COLOUR.fullmatch(value):
            raise forms.ValidationError(_("Enter a colour as #rrggbb."), code="colour")
        return value

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("label_position", "label_size"):  # left out: the default (a form from before these fields)
            if name in self.fields:
                self.fields[name].required = False

    def clean_label_position(self) -> str:
        return self.cleaned_data.get("label_position") or Campaign._meta.get_field("label_position").default

    def clean_label_size(self) -> int:
        size = self.cleaned_data.get("label_size")
        return Campaign._meta.get_field("label_size").default if size is None else size

    def clean_primary_color(self) -> str:
        return self._colour("primary_color")

    def clean_accent_color(self) -> str:
        return self._colour("accent_color")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ("title", "slug", "enabled", "starts_at", "ends_at", "daily_quota")
    list_filter = ("enabled",)
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}
    inlines = [CampaignTemplateInline]
    fieldsets = [
        (None, {"fields": ["title", "slug", "subtitle", "intro", "hero_image", "enabled"]}),
        (_("Other languages"), {"fields": ["translations"]}),
        (_("Look"), {"fields": ["primary_color", "accent_color"]}),
        (_("When and how much"), {"fields": ["starts_at", "ends_at", "daily_quota"]}),
        (
            _("Consent and privacy"),
            {"fields": ["consent_required", "consent_text", "consent_version", "privacy_purpose", "privacy_link"]},
        ),
        (_("Retention"), {"fields": ["keep_uploads_days", "keep_outputs_days", "retention"]}),
        (_("Moderation"), {"fields": ["input_threshold", "output_threshold"]}),
        (
            _("AI-generated label"),
            {"fields": ["label_visible", "label_text", "label_badge", "label_position", "label_size"]},
        ),
    ]
    readonly_fields = ["consent_version", "privacy_link", "retention"]

    @admin.display(description=_("privacy statement"))
    def privacy_link(self, campaign: Campaign) -> str:
        if not campaign.pk:
            return "—"
        url = campaign.privacy_url
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    @admin.display(description=_("what will be purged when"))
    def retention(self, campaign: Campaign) -> str:
        """The periods in force and what the purge deletes in the coming day and week."""
        policy = campaign_policy(campaign)
        periods = _("Photos are deleted %(uploads)d day(s) after they are sent, jobs and images after %(outputs)d.") % {
            "uploads": days(policy.keep_uploads),
            "outputs": days(policy.keep_outputs),
        }
        if not campaign.pk:
            return periods
        rows = format_html_join(
            "",
            "<li>{}</li>",
            (
                (
                    _("within %(span)s: photos of %(photos)d job(s), %(jobs)d job(s) with their images")
                    % {"span": span, "photos": photos, "jobs": jobs},
                )
                for span, (photos, jobs) in upcoming_purges(campaign.slug).items()
            ),
        )
        return format_html("<p>{}</p><ul>{}</ul>", periods, rows)
