"""Routes of ``/api/v1/``. A namespace name contains ``/``, so what follows
it is set apart by a ``-`` segment, which no namespace segment can be
(``/api/v1/namespaces/payments/prod/-/items/app.yaml``)."""
from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from config_center.url_converters import register_namespace_converter

from . import accounts, audit, items, namespaces, registry, releases, transfer


register_namespace_converter()

urlpatterns = [
    path("auth/login", accounts.Login.as_view(), name="api-login"),
    path("auth/logout", accounts.Logout.as_view(), name="api-logout"),
    path("auth/me", accounts.Me.as_view(), name="api-me"),
    path("users", accounts.UserList.as_view(), name="api-users"),
    path("users/<str:name>", accounts.UserDetail.as_view(), name="api-user"),
    path("tokens", accounts.TokenList.as_view(), name="api-tokens"),
    path("tokens/<str:token_id>", accounts.TokenDetail.as_view(), name="api-token"),
    path("audit", audit.GlobalAudit.as_view(), name="api-audit"),
    path("audit/verify", audit.VerifyAudit.as_view(), name="api-audit-verify"),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("services", registry.ServiceList.as_view(), name="api-services"),
    path("services/<ns:service>/-/instances", registry.InstanceList.as_view(), name="api-instances"),
    path("services/<ns:service>/-/instances/<str:instance_id>", registry.InstanceDetail.as_view(),
         name="api-instance"),
    path("services/<ns:service>/-/instances/<str:instance_id>/keepalive", registry.Keepalive.as_view(),
         name="api-instance-keepalive"),
    path("namespaces", namespaces.NamespaceList.as_view(), name="api-namespaces"),
    path("namespaces/<ns:ns>", namespaces.NamespaceDetail.as_view(), name="api-namespace"),
    path("namespaces/<ns:ns>/-/items", items.ItemList.as_view(), name="api-items"),
    path("namespaces/<ns:ns>/-/items/<str:name>", items.ItemDetail.as_view(), name="api-item"),
    path("namespaces/<ns:ns>/-/drafts/<str:name>", items.DraftDetail.as_view(), name="api-draft"),
    path("namespaces/<ns:ns>/-/config", items.LiveConfig.as_view(), name="api-config"),
    path("namespaces/<ns:ns>/-/changes", releases.PendingChanges.as_view(), name="api-changes"),
    path("namespaces/<ns:ns>/-/publish", releases.Publish.as_view(), name="api-publish"),
    path("namespaces/<ns:ns>/-/releases", releases.ReleaseList.as_view(), name="api-releases"),
    path("namespaces/<ns:ns>/-/releases/<int:seq>", releases.ReleaseDetail.as_view(), name="api-release"),
    path("namespaces/<ns:ns>/-/rollback", releases.Rollback.as_view(), name="api-rollback"),
    path("namespaces/<ns:ns>/-/canary", releases.Canary.as_view(), name="api-canary"),
    path("namespaces/<ns:ns>/-/canary/promote", releases.CanaryPromote.as_view(), name="api-canary-promote"),
    path("namespaces/<ns:ns>/-/canary/abandon", releases.CanaryAbandon.as_view(), name="api-canary-abandon"),
    path("namespaces/<ns:ns>/-/prune", releases.Prune.as_view(), name="api-prune"),
    path("namespaces/<ns:ns>/-/diff", releases.Diff.as_view(), name="api-diff"),
    path("namespaces/<ns:ns>/-/delivery", items.Delivery.as_view(), name="api-delivery"),
    path("namespaces/<ns:ns>/-/audit", audit.NamespaceAudit.as_view(), name="api-namespace-audit"),
    path("namespaces/<ns:ns>/-/export", transfer.Export.as_view(), name="api-export"),
    path("namespaces/<ns:ns>/-/import", transfer.Import.as_view(), name="api-import"),
    path("namespaces/<ns:ns>/-/promote", transfer.Promote.as_view(), name="api-promote"),
]
