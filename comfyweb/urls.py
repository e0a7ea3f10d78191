from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.static import serve as serve_static

from comfyweb.core.views import healthz
from comfyweb.jobs.metrics import metrics_view

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("comfyweb.jobs.api_urls")),
    path("metrics", metrics_view, name="metrics"),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("", include("comfyweb.campaigns.urls")),
]

if not getattr(settings, "AWS_STORAGE_BUCKET_NAME", ""):
    # Embedded topology: media files are served by the app itself.
    urlpatterns += [
        path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", serve_static, {"document_root": settings.MEDIA_ROOT}),
    ]
