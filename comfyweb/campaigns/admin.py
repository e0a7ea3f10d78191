"""Operators edit campaigns and their ordered templates in the Django admin."""

from __future__ import annotations

from django.contrib import admin

from comfyweb.campaigns.models import Campaign, CampaignTemplate


class CampaignTemplateInline(admin.TabularInline):
    model = CampaignTemplate
    extra = 1
    autocomplete_fields = ()
    fields = ("template", "position")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "enabled", "starts_at", "ends_at", "daily_quota")
    list_filter = ("enabled",)
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}
    inlines = [CampaignTemplateInline]
