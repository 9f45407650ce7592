from django.apps import AppConfig


class UploadsConfig(AppConfig):
    name = "uploads"
    verbose_name = "Uploads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from . import store
        from .models import Upload

        post_delete.connect(store.row_deleted, sender=Upload, dispatch_uid="uploads.files_follow_their_rows")
