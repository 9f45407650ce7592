from django.urls import include, path

from api.app import urls as api_urls
from chat import views
from parley import health

urlpatterns = [
    path("", views.index, name="index"),
    path("rooms.json", views.rooms_json, name="rooms_json"),
    path("mentions/", views.mentions, name="mentions"),
    path("rooms/<str:name>/", views.room, name="room"),
    path("rooms/<str:name>/name/", views.guest_name, name="guest_name"),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", api_urls()),  # the REST API (docs/api.md): no trailing slash on its paths
    path("i18n/", include("django.conf.urls.i18n")),  # set_language, for the header's language switch
    path("chat/", views.legacy_index),
    path("chat/<str:name>/", views.legacy_room),
    path("chat/<str:name>", views.legacy_room),
    # For operators (docs/deployment.md, "Operations"): liveness, backends' health, Prometheus metrics.
    path("livez", health.livez, name="livez"),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="metrics"),
]
