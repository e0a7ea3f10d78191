from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from comfyweb.campaigns.media import media_file
from comfyweb.core.views import healthz, readyz
from comfyweb.jobs.metrics import metrics_view

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # The API's own root and /api/ point people to its documentation page.
    path("api/", RedirectView.as_view(pattern_name="api:docs"), name="api-root"),
    path("api/v1/", RedirectView.as_view(pattern_name="api:docs"), name="api-v1-root"),
    path("api/v1/", include("comfyweb.api_urls")),
    path("metrics", metrics_view, name="metrics"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("", include("comfyweb.campaigns.urls")),
]

if not settings.AWS_STORAGE_BUCKET_NAME:
    # Media on local disk, after the ownership check: django's static serve with DEBUG or the loopback demo,
    # else nginx via X-Accel-Redirect (comfyweb.campaigns.media). With S3, pages carry presigned URLs.
    urlpatterns += [path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", media_file, name="media")]
