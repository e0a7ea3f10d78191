from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "comfyweb.jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from comfyweb.jobs import signals  # noqa: F401 - connects the receivers
