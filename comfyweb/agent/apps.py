from django.apps import AppConfig


class AgentConfig(AppConfig):
    name = "comfyweb.agent"
    default_auto_field = "django.db.models.BigAutoField"
