"""Routes of the console, under ``/console/``. As in the REST API, a
namespace name contains ``/``, so what follows it is set apart by a ``-``
segment (``/console/ns/payments/prod/-/items/app.yaml``)."""
from django.urls import path

from config_center.url_converters import register_namespace_converter

from . import (admin_views, audit_views, auth_views, dashboard_views, delivery_views, item_views, namespace_views,
               publish_views, release_views, service_views)

register_namespace_converter()

urlpatterns = [
    path("login", auth_views.login, name="console-login"),
    path("logout", auth_views.logout, name="console-logout"),
    path("", dashboard_views.dashboard, name="console-dashboard"),
    path("namespaces", namespace_views.namespace_list, name="console-namespaces"),
    path("namespaces/new", namespace_views.namespace_create, name="console-namespace-create"),
    path("ns/<ns:ns>", namespace_views.namespace_page, name="console-namespace"),
    path("ns/<ns:ns>/-/settings", namespace_views.namespace_settings, name="console-namespace-settings"),
    path("ns/<ns:ns>/-/items/new", item_views.item_new, name="console-item-new"),
    path("ns/<ns:ns>/-/items/<str:name>", item_views.item_editor, name="console-item"),
    path("ns/<ns:ns>/-/items/<str:name>/discard", item_views.item_discard, name="console-item-discard"),
    path("ns/<ns:ns>/-/validate", item_views.validate, name="console-validate"),
    path("ns/<ns:ns>/-/publish", publish_views.publish, name="console-publish"),
    path("ns/<ns:ns>/-/releases", release_views.history, name="console-releases"),
    path("ns/<ns:ns>/-/compare", release_views.compare, name="console-compare"),
    path("ns/<ns:ns>/-/rollback/<int:seq>", release_views.rollback, name="console-rollback"),
    path("ns/<ns:ns>/-/audit", audit_views.namespace_audit, name="console-namespace-audit"),
    path("ns/<ns:ns>/-/delivery", delivery_views.delivery, name="console-delivery"),
    path("ns/<ns:ns>/-/canary", delivery_views.canary, name="console-canary"),
    path("audit", audit_views.global_audit, name="console-audit"),
    path("services", service_views.service_list, name="console-services"),
    path("services/<ns:service>", service_views.service_page, name="console-service"),
    path("admin/users", admin_views.users, name="console-users"),
    path("admin/users/<str:name>", admin_views.user_page, name="console-user"),
    path("tokens", admin_views.tokens, name="console-tokens"),
]
