from __future__ import annotations

from django.urls import path

from comfyweb.campaigns import theme, views

app_name = "campaigns"

urlpatterns = [
    path("", views.home, name="home"),
    path("c/<str:slug>/", views.campaign_page, name="campaign"),
    path("c/<str:slug>/theme.css", theme.campaign_theme, name="campaign_theme"),
    path("c/<str:slug>/privacy/", views.privacy_page, name="campaign_privacy"),
    path("privacy/", views.privacy_page, name="privacy"),
    path("c/<str:campaign>/t/<str:slug>/", views.template_page, name="campaign_template"),
    path("t/<str:slug>/", views.template_page, name="template"),
    path("jobs/<uuid:job_id>/", views.job_page, name="job"),
    path("jobs/<uuid:job_id>/retry/", views.job_retry, name="job_retry"),
    path("jobs/<uuid:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<uuid:job_id>/card/", views.job_card, name="job_card"),
    path("jobs/<uuid:job_id>/images/<int:n>/download/", views.job_image, name="job_image"),
    path("batches/<uuid:batch_id>/", views.batch_page, name="batch"),
    path("me/", views.my_creations, name="me"),
    path("me/delete/", views.delete_creation, name="delete_creation"),
    path("me/queue/", views.my_queue, name="queue"),
    path("me/queue/cancel/", views.cancel_my_queue, name="cancel_queue"),
    path("me/delete-everything/", views.delete_everything, name="delete_everything"),
]
