from django.apps import AppConfig


class SearchConfig(AppConfig):
    """Search over what messages say (docs/search.md)."""

    name = "search"
    default_auto_field = "django.db.models.BigAutoField"
