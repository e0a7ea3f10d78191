from django.apps import AppConfig


class EmulatorConfig(AppConfig):
    name = "comfyweb.emulator"
    default_auto_field = "django.db.models.BigAutoField"
