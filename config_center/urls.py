"""URL routes of a node's HTTP side. Websocket routes are in ``routing.py``; the
store's ``/v3/...`` gateway is mounted ahead of Django in ``asgi.py``."""

from django.urls import include, path

from config_center import views
from consensus import status_views

urlpatterns = [
    path("", views.index, name="index"),
    path("health", views.health, name="health"),
    path("version", views.version, name="version"),
    path("metrics", status_views.metrics_view, name="metrics"),
    path("api/v1/cluster/status", status_views.cluster_status_view, name="cluster-status"),
    path("api/v1/", include("config_center.api.urls")),
    path("console/", include("config_center.console.urls")),
]
