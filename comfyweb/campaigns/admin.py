"""Operators edit campaigns and their ordered templates in the Django admin."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from comfyweb.campaigns.models import TRANSLATED_FIELDS, Campaign, CampaignTemplate
from comfyweb.campaigns.theme import HEX_COLOUR
from comfyweb.catalog.translations import TranslationsFormMixin


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
    ]
