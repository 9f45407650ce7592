from django.contrib import admin
from django.urls import include, path

from api import incoming
from api.app import urls as api_urls
from bots import views as bot_views
from chat.views import namespaces as ns_views
from chat.views import rooms as views
from hooks import views as hook_views
from markup import views as markup_views
from parley import errors, health
from search import views as search_views
from uploads import views as upload_views

# Parley's own error pages, in the visitor's language (parley/errors.py).
handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.not_found
handler500 = errors.server_error

urlpatterns = [
    path("", views.index, name="index"),
    path("rooms.json", views.rooms_json, name="rooms_json"),
    path("mentions/", views.mentions, name="mentions"),
    path("search/", search_views.search_page, name="search"),
    path("rooms/<str:name>/", views.room, name="room"),
    path("rooms/<str:name>/name/", views.guest_name, name="guest_name"),
    # Namespaces (docs/namespaces.md): a room called "audit", "members" or "settings" is reached
    # through its WebSocket and the API only (the namespace's pages have those paths).
    path("ns/", ns_views.ns_create, name="ns_create"),
    path("ns/<str:ns_name>/", ns_views.ns_page, name="ns"),
    path("ns/<str:ns_name>/rooms.json", ns_views.ns_rooms_json, name="ns_rooms_json"),
    path("ns/<str:ns_name>/audit/", ns_views.ns_audit, name="ns_audit"),
    path("ns/<str:ns_name>/members/", ns_views.ns_members, name="ns_members"),
    path("ns/<str:ns_name>/settings/", ns_views.ns_settings, name="ns_settings"),
    path("ns/<str:ns_name>/join/<str:code>/", ns_views.ns_join, name="ns_join"),
    path("ns/<str:ns_name>/bots/", bot_views.bots_page, name="ns_bots"),  # docs/webhooks.md
    path("ns/<str:ns_name>/hooks/", hook_views.hooks_page, name="ns_hooks"),
    path("ns/<str:ns_name>/<str:name>/", ns_views.ns_room, name="ns_room"),
    path("ns/<str:ns_name>/<str:name>/name/", ns_views.ns_guest_name, name="ns_guest_name"),
    path("ns/<str:ns_name>/<str:name>/members/", ns_views.room_members, name="room_members"),
    path("dm/<str:username>/", views.dm_page, name="dm"),
    path("preview/", markup_views.preview, name="preview"),  # the composer's Markdown preview
    # Uploads' bytes, behind their room's access rules (docs/uploads.md).
    path("files/<int:upload_id>/thumbnail/<str:name>", upload_views.thumbnail, name="upload_thumbnail"),
    path("files/<int:upload_id>/<str:name>", upload_views.download, name="upload"),
    # An incoming webhook's secret URL (docs/webhooks.md): no credentials but the secret.
    path("hooks/<str:secret>", incoming.incoming, name="hook_incoming"),
    path("admin/", admin.site.urls),
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
