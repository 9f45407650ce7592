"""The skeletons of the users that existed before ``UsernameSkeleton``."""

from django.conf import settings
from django.db import migrations

from accounts.skeleton import skeletons


def fill(apps, schema_editor):
    User = apps.get_model(settings.AUTH_USER_MODEL)
    UsernameSkeleton = apps.get_model("accounts", "UsernameSkeleton")
    field = getattr(User, "USERNAME_FIELD", "username")
    rows = [
        UsernameSkeleton(user_id=pk, skeleton=s)
        for pk, name in User.objects.values_list("pk", field).iterator(chunk_size=2000)
        for s in skeletons(name)
    ]
    UsernameSkeleton.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_username_skeletons")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
