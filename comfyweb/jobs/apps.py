from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "comfyweb.jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: models may only be imported once the app registry is ready.
        from comfyweb.catalog.backends_check import use_backend_source
        from comfyweb.jobs import signals  # noqa: F401 - connects the receivers
        from comfyweb.jobs.backends import pool_backends
        from comfyweb.jobs.trust import checks  # noqa: F401 - registers the system checks of the trust settings

        # The catalog checks templates against GPU backends; the pool that knows them lives here.
        use_backend_source(pool_backends)
