"""URL routes of a node's HTTP side. Websocket routes are in ``routing.py``."""

from django.urls import path

from config_center import views
from consensus import views as store_views

urlpatterns = [
    path("", views.index, name="index"),
    path("health", views.health, name="health"),
    path("version", views.version, name="version"),
    path("v3/maintenance/status", store_views.maintenance_status, name="maintenance-status"),
]
