"""The moderation's review queue (images withheld from visitors) and the word lists of the text check."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from comfyweb.jobs.admin.jobs import pretty_json, thumbnail_link
from comfyweb.jobs.models import JobOutput, WithheldOutput, WordList
from comfyweb.jobs.trust.review import delete_outputs, release_outputs


@admin.register(WithheldOutput)
class WithheldOutputAdmin(admin.ModelAdmin):
    """Operators look at each withheld image, then release it to its visitor or delete it."""

    class Media:
        css = {"all": ["css/admin-jobs.css"]}  # the thumbnails' size (the admin's CSP allows no inline style)

    list_display = ["preview", "job_link", "score", "reasons", "created_at"]
    list_filter = ["created_at"]
    ordering = ["created_at"]
    actions = ["release", "delete_for_good"]
    fields = ["preview", "job_link", "detail", "created_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(review=JobOutput.Review.WITHHELD).select_related("job")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # nothing to edit: release and delete are actions

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # rows stay (the visitor's card says why): "delete for good" removes the files

    @admin.display(description=_("image"))
    def preview(self, output: JobOutput) -> str:
        return thumbnail_link(output, alt=_("withheld image"))

    @admin.display(description=_("job"))
    def job_link(self, output: JobOutput) -> str:
        url = reverse("admin:jobs_job_change", args=[output.job_id])
        return format_html('<a href="{}">{}</a>', url, output.job.template_title or str(output.job_id)[:8])

    @admin.display(description=_("score"))
    def score(self, output: JobOutput) -> str:
        return f"{(output.review_detail or {}).get('score', 0):.2f}"

    @admin.display(description=_("why"))
    def reasons(self, output: JobOutput) -> str:
        return ", ".join((output.review_detail or {}).get("reasons") or []) or "—"

    @admin.display(description=_("what the checks found"))
    def detail(self, output: JobOutput) -> str:
        return pretty_json(output.review_detail)

    @admin.action(description=_("Release: show the selected images to their visitors"))
    def release(self, request, queryset) -> None:
        n = release_outputs(queryset, by=request.user)
        self.message_user(
            request, ngettext("Released %(n)d image.", "Released %(n)d images.", n) % {"n": n}, messages.SUCCESS
        )

    @admin.action(description=_("Delete the selected images for good"))
    def delete_for_good(self, request, queryset) -> None:
        n = delete_outputs(queryset, by=request.user)
        self.message_user(
            request, ngettext("Deleted %(n)d image.", "Deleted %(n)d images.", n) % {"n": n}, messages.SUCCESS
        )


@admin.register(WordList)
class WordListAdmin(admin.ModelAdmin):
    list_display = ["name", "enabled", "size", "updated_at"]
    list_filter = ["enabled"]
    search_fields = ["name", "words"]

    @admin.display(description=_("words"))
    def size(self, words: WordList) -> int:
        return len(words.terms())
