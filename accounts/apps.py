from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Sign up, log in, log out: Django's auth with Parley's pages."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
