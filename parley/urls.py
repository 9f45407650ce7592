from django.urls import path

from chat import views

urlpatterns = [
    path("", views.index, name="index"),
    path("rooms/<str:name>/", views.room, name="room"),
    path("chat/", views.legacy_index),
    path("chat/<str:name>/", views.legacy_room),
    path("chat/<str:name>", views.legacy_room),
]
