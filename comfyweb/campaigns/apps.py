from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "comfyweb.campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: models may only be imported once the app registry is ready.
        from comfyweb.campaigns.preview import VisitorPagePreview
        from comfyweb.campaigns.services import rules_without_campaign
        from comfyweb.campaigns.trust import policy_by_slug
        from comfyweb.catalog.preview import use_visitor_preview
        from comfyweb.jobs.limits import use_rules_provider
        from comfyweb.jobs.trust.policy import use_policy_provider

        # Submissions that name no campaign (the REST API, retries) still meet the campaigns' quotas.
        use_rules_provider(rules_without_campaign)
        # Retention, moderation thresholds and labels of a job's campaign, for the purge and the worker.
        use_policy_provider(policy_by_slug)
        # The admin previews drafts with the visitor page's own templates and steps.
        use_visitor_preview(VisitorPagePreview())
