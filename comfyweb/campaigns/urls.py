from __future__ import annotations

from django.urls import path

from comfyweb.campaigns import share_views, theme, views

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
    # Take-away: share links, their QR codes, and a batch as one ZIP (campaigns.share_views).
    path("jobs/<uuid:job_id>/share/", share_views.share_job, name="share_job"),
    path("batches/<uuid:batch_id>/share/", share_views.share_batch, name="share_batch"),
    path("batches/<uuid:batch_id>/download.zip", share_views.batch_archive, name="batch_archive"),
    path("me/shares/<int:link_id>/", share_views.share_link, name="share_link"),
    path("me/shares/<int:link_id>/qr/", share_views.share_qr, name="share_qr"),
    path("me/shares/<int:link_id>/qr.svg", share_views.share_qr_image, name="share_qr_image"),
    path("me/shares/<int:link_id>/stop/", share_views.share_stop, name="share_stop"),
    path("s/<str:token>/", share_views.shared, name="shared"),
    path("s/<str:token>/download.zip", share_views.shared_archive, name="shared_archive"),
    path("s/<str:token>/images/<uuid:job_id>/<int:n>/", share_views.shared_image, name="shared_image"),
    path(
        "s/<str:token>/images/<uuid:job_id>/<int:n>/download/",
        share_views.shared_image_download,
        name="shared_image_download",
    ),
    path("me/", views.my_creations, name="me"),
    path("me/delete/", views.delete_creation, name="delete_creation"),
    path("me/queue/", views.my_queue, name="queue"),
    path("me/queue/cancel/", views.cancel_my_queue, name="cancel_queue"),
    path("me/delete-everything/", views.delete_everything, name="delete_everything"),
]
