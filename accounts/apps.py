from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Sign up, log in, log out: Django's auth with Parley's pages; usernames' skeletons; login throttling."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Called once Django has loaded the apps: keep usernames' skeletons in step with the users."""
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save

        from .signals import user_saved

        post_save.connect(user_saved, sender=get_user_model(), dispatch_uid="accounts.username_skeletons")
