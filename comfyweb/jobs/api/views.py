"""The REST API's job endpoints (/api/v1/jobs/): thin views over the jobs services and selectors.

API clients authenticate with a token (`Authorization: Token <key>`); the browser and anonymous
visitors are identified by their session, exactly like the pages, so a visitor sees the same jobs
on /me/ and in GET /api/v1/jobs/.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse, Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.exceptions import ParseError, Throttled
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from comfyweb.catalog.backends_check import backends_options_resolver
from comfyweb.catalog.forms import release_decoded_photos
from comfyweb.core.api_auth import VisitorAPIMixin
from comfyweb.core.clientip import client_ip
from comfyweb.core.streaming import sent_in_chunks
from comfyweb.core.visitors import visitor_session_key
from comfyweb.jobs.api.serializers import ErrorSerializer, JobBatchSerializer, JobCreateSerializer, JobSerializer
from comfyweb.jobs.api.throttles import RATE_LIMITED, JobCreateIPThrottle, JobCreateVisitorThrottle
from comfyweb.jobs.models import Job
from comfyweb.jobs.selectors import can_view, visitor_jobs
from comfyweb.jobs.services import cancel_job, submit_jobs

TOO_MANY = {"queue_full", "quota_exceeded"}
CREATE_FIELDS = {"workflow", "quantity", "values", "consent"}


class VisitorMixin(VisitorAPIMixin):
    """A visitor's view of jobs: their own (staff: every job)."""

    def visible_job(self, pk) -> Job:
        """The job when this visitor may see it (owner or staff); 404 otherwise, not to reveal it exists."""
        job = Job.objects.without_prompt().select_related("template").prefetch_related("outputs").filter(pk=pk).first()
        _user, session_key = self.visitor()
        if job is None or not can_view(job, user=self.request.user, session_key=session_key):
            raise Http404(_("No such job."))
        return job


class VisitorAPIView(VisitorMixin, APIView):
    pass


class JobPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


def create_payload(request: Request) -> dict:
    """The job request as one dict: a JSON body as is; a form body's loose fields become values."""
    data = request.data
    if not hasattr(data, "getlist"):
        if not isinstance(data, dict):
            raise ParseError(_('Send a JSON object: {"workflow": …, "values": {…}, "quantity": 1}.'))
        return data
    payload = {key: data.get(key) for key in ("workflow", "quantity", "consent") if key in data}
    values: dict = {}
    if data.get("values"):
        try:
            values = json.loads(data["values"])
        except ValueError:
            raise drf_serializers.ValidationError({"values": [_("Not valid JSON.")]}) from None
        if not isinstance(values, dict):
            raise drf_serializers.ValidationError({"values": [_("Give a JSON object of field values.")]})
    values.update({key: data.get(key) for key in data if key not in CREATE_FIELDS and key not in request.FILES})
    payload["values"] = values
    return payload


def refusal(exc: DjangoValidationError) -> Response:
    """A submission the services refused: 429 for the waiting-jobs cap and quotas, else 400.

    A refusal of some values (the moderation's) names them, like the form's errors do.
    """
    if hasattr(exc, "error_dict"):
        return Response({"values": exc.message_dict, "code": "moderation"}, status=status.HTTP_400_BAD_REQUEST)
    code = next(iter({error.code for error in exc.error_list} & TOO_MANY), None)
    detail = " ".join(exc.messages)
    if code:
        return Response({"detail": detail, "code": code}, status=status.HTTP_429_TOO_MANY_REQUESTS)
    codes = [error.code for error in exc.error_list if error.code]
    return Response({"detail": detail, **({"code": codes[0]} if codes else {})}, status=status.HTTP_400_BAD_REQUEST)


@extend_schema(tags=["jobs"])
class JobListCreateView(VisitorMixin, ListAPIView):
    """GET: my jobs, newest first. POST: queue jobs of a workflow (the template page's rules)."""

    serializer_class = JobSerializer
    pagination_class = JobPagination

    def get_throttles(self):
        return [JobCreateVisitorThrottle(), JobCreateIPThrottle()] if self.request.method == "POST" else []

    def throttled(self, request: Request, wait: float | None) -> None:
        raise Throttled(wait, detail=str(RATE_LIMITED))

    def get_queryset(self):
        user, session_key = self.visitor()
        return (
            visitor_jobs(user=user, session_key=session_key)
            .select_related("template")
            .prefetch_related("outputs")
            .order_by("-created_at", "-pk")
        )

    @extend_schema(summary="My jobs, newest first", description="Paginated; anonymous visitors: by session.")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Queue jobs of a workflow",
        description="JSON, or multipart/form-data with `workflow`, `quantity`, `consent` and the value fields "
        "(pictures as files). The values are checked exactly like the workflow's page form, and photos and text "
        "by the site's moderation (a refusal names the values). Where photos of people need consent (the "
        "workflow's campaign or the workflow asks for it: its privacy statement says what it covers), a request "
        "with a photo must send `consent: true`, else 400 with code `consent_required`.",
        request={"application/json": JobCreateSerializer, "multipart/form-data": OpenApiTypes.OBJECT},
        responses={
            201: JobBatchSerializer,
            400: OpenApiResponse(description="Invalid request; the errors name the fields."),
            429: OpenApiResponse(ErrorSerializer, description="Rate limit, daily quota or waiting-jobs cap."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = JobCreateSerializer(
            data=create_payload(request),
            context={"files": request.FILES, "options_resolver": backends_options_resolver()},
        )
        serializer.is_valid(raise_exception=True)
        user = request.user if request.user.is_authenticated else None
        session_key = (request.session.session_key or "") if user else visitor_session_key(request)
        try:
            jobs = submit_jobs(
                template=serializer.validated_data["workflow"],
                values=serializer.validated_data["cleaned_values"],
                quantity=serializer.validated_data["quantity"],
                owner=user,
                session_key=session_key,
                client_ip=client_ip(request),
                consented=serializer.validated_data["consent"],
            )
        except DjangoValidationError as exc:
            return refusal(exc)
        finally:  # the checks are done: the photos' pixels go now, not when the collector finds the form's cycle
            release_decoded_photos(serializer.validated_data["cleaned_values"])
        body = {"batch": str(jobs[0].batch) if jobs[0].batch else None, "jobs": JobSerializer(jobs, many=True).data}
        location = reverse("api:job-detail", kwargs={"pk": jobs[0].pk})
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": location})


class JobDetailView(VisitorAPIView):
    """The job's current snapshot; poll it, or follow the browser WebSocket /ws/jobs/<id>/."""

    @extend_schema(tags=["jobs"], summary="One job (its owner or staff)", responses={200: JobSerializer, 404: None})
    def get(self, request: Request, pk) -> Response:
        return Response(JobSerializer(self.visible_job(pk)).data)


class JobCancelView(VisitorAPIView):
    """Cancel one of my jobs (staff: any job)."""

    @extend_schema(
        tags=["jobs"],
        summary="Cancel a job",
        description="A queued job is cancelled at once; a running one is interrupted on its GPU backend "
        "(its status turns `cancelled` shortly after).",
        request=None,
        responses={200: JobSerializer, 404: None, 409: ErrorSerializer},
    )
    def post(self, request: Request, pk) -> Response:
        job = self.visible_job(pk)
        if job.is_finished:
            return Response(
                {"detail": _("The job has already finished (%(status)s).") % {"status": job.status}},
                status=status.HTTP_409_CONFLICT,
            )
        job = cancel_job(job=job, by_staff=bool(request.user.is_staff))
        return Response(JobSerializer(job).data)


class JobOutputView(VisitorAPIView):
    """An output image of one of my jobs as a file download."""

    @extend_schema(
        tags=["jobs"],
        summary="Download an output image of my job",
        responses={(200, "image/*"): OpenApiTypes.BINARY, 404: None},
    )
    def get(self, request: Request, pk, output_id: int) -> FileResponse:
        user, session_key = self.visitor()
        job = visitor_jobs(user=user, session_key=session_key).filter(pk=pk).first()
        output = job.outputs.filter(pk=output_id).first() if job is not None else None
        if output is None or output.is_withheld:
            raise Http404(_("No such output."))
        name = PurePosixPath(output.filename or output.file.name).name
        handle = output.file.open("rb")
        response = FileResponse(handle, as_attachment=True, filename=name, content_type=output.content_type)
        return sent_in_chunks(response)  # a FileResponse is read whole into memory by an ASGI server
