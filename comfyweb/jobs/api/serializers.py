"""The REST API's job objects: a job request checked by the template's form, and a job's snapshot."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import serializers

from comfyweb.catalog.forms import build_template_form, release_decoded_photos
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.api.inputs import form_errors, form_input
from comfyweb.jobs.errors import CODES
from comfyweb.jobs.selectors import job_snapshot


class JobCreateSerializer(serializers.Serializer):
    """A job request: which workflow, the values of its fields, how many images."""

    workflow = serializers.CharField(help_text="The slug of an enabled workflow (GET /api/v1/workflows/).")
    values = serializers.DictField(
        child=serializers.JSONField(allow_null=True),
        required=False,
        default=dict,
        help_text='Field name "<node id>.<input key>" → value. Pictures: a data URL, an http(s) URL, a gallery '
        "option, or (multipart) a file field of the same name. Fields left out keep the workflow's defaults.",
    )
    quantity = serializers.IntegerField(min_value=1, max_value=settings.JOB_MAX_QUANTITY, default=1)
    consent = serializers.BooleanField(
        default=False,
        help_text="The visitor agrees to how their photos are used (the privacy statement of the workflow's "
        "campaign). Needed with a photo where consent is asked for; recorded with the jobs.",
    )

    def validate_workflow(self, slug: str) -> WorkflowTemplate:
        template = WorkflowTemplate.objects.visible().filter(slug=slug).first()
        if template is None:
            raise serializers.ValidationError(_("Unknown workflow %(slug)r.") % {"slug": slug})
        return template

    def validate(self, attrs: dict) -> dict:
        """Run the template page's form on the values: the API accepts exactly what the page accepts."""
        template = attrs["workflow"]
        data, files, errors = form_input(template, attrs.get("values") or {}, self.context.get("files"))
        form = build_template_form(
            template, data=data, files=files, options_resolver=self.context.get("options_resolver")
        )
        if not form.is_valid() or errors:
            release_decoded_photos(form.cleaned_data)  # a form is a cycle: its pixels would wait for the collector
            raise serializers.ValidationError({"values": {**form_errors(form), **errors}})
        attrs["cleaned_values"] = form.cleaned_data
        return attrs


class JobOutputSerializer(serializers.Serializer):
    url = serializers.CharField()
    thumbnail_url = serializers.CharField()
    download_url = serializers.CharField(help_text="GET it with the same credentials: the file as an attachment.")
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)


class CurrentNodeSerializer(serializers.Serializer):
    node = serializers.CharField()
    title = serializers.CharField(allow_null=True)
    class_type = serializers.CharField()
    value = serializers.IntegerField()
    max = serializers.IntegerField()


class JobErrorSerializer(serializers.Serializer):
    """Why a job failed, for visitors: the technical detail stays with the operators (job admin)."""

    code = serializers.ChoiceField(choices=list(CODES), help_text="What went wrong, for programs.")
    message = serializers.CharField(help_text="What went wrong, in a short sentence for people.")
    node_id = serializers.CharField(allow_null=True, help_text="The workflow node it happened at, when known.")
    node_class = serializers.CharField(allow_null=True, help_text="That node's class, when known.")


class JobSerializer(serializers.Serializer):
    """A job's snapshot: the same object the browser's WebSocket sends (selectors.job_snapshot)."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["queued", "dispatched", "running", "succeeded", "failed", "cancelled"])
    stage = serializers.ChoiceField(
        choices=["in_line", "waiting_for_gpu", "painting", "succeeded", "failed", "cancelled"],
        help_text="What it is doing: waiting in line, waiting for a GPU (handed to a backend that has not started "
        "it yet), painting (the backend started it), or how it ended.",
    )
    percent = serializers.FloatField()
    queue_position = serializers.IntegerField(allow_null=True, help_text="1 for the next job to start.")
    estimate_seconds = serializers.IntegerField(allow_null=True)
    places = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField(allow_null=True)),
        help_text="While it waits in line: {job id: {place, wait}} of each of the visitor's waiting jobs, "
        "from one reading of the queue.",
    )
    places_at = serializers.FloatField(allow_null=True, help_text="When the queue was read for `places` (Unix time).")
    current = CurrentNodeSerializer(allow_null=True, help_text="The node running now.")
    nodes = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))
    error = JobErrorSerializer(
        allow_null=True, help_text="Why a failed or cancelled job ended (null otherwise), in the request's language."
    )
    outputs = JobOutputSerializer(many=True)
    withheld = serializers.IntegerField(
        help_text="Images the moderation withheld for an operator's review: not in `outputs` until released."
    )
    template = serializers.CharField(allow_null=True, help_text="The workflow's slug.")
    title = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    batch = serializers.UUIDField(allow_null=True, help_text="Jobs created by one request share it.")
    retried_as = serializers.UUIDField(allow_null=True, help_text="The job that tried this one again, if any.")
    seeds = serializers.DictField(child=serializers.IntegerField(), help_text="The random seeds the job used.")

    def to_representation(self, job) -> dict:
        return job_snapshot(job)


class JobBatchSerializer(serializers.Serializer):
    """What POST /jobs/ answers: the new jobs (quantity of them)."""

    batch = serializers.UUIDField(allow_null=True)
    jobs = JobSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(required=False)
