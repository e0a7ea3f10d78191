from __future__ import annotations

from django.urls import path

from comfyweb.campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("", views.home, name="home"),
    path("c/<str:slug>/", views.campaign_page, name="campaign"),
    path("c/<str:campaign>/t/<str:slug>/", views.template_page, name="campaign_template"),
    path("t/<str:slug>/", views.template_page, name="template"),
    path("jobs/<uuid:job_id>/", views.job_page, name="job"),
    path("jobs/<uuid:job_id>/retry/", views.job_retry, name="job_retry"),
    path("jobs/<uuid:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("batches/<uuid:batch_id>/", views.batch_page, name="batch"),
    path("me/", views.my_creations, name="me"),
]
