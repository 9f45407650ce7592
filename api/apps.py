from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API v1 at /api/v1 (django-ninja): routes over chat.actions and chat.selectors."""

    name = "api"
    default_auto_field = "django.db.models.BigAutoField"
