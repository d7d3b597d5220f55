"""Django settings for a config_center node.

Django's own database is not a source of truth for anything: configuration,
users, audit records and sessions-that-matter live in the replicated store (see
ARCHITECTURE.md). The ORM database below only exists because contrib apps that
DRF relies on expect one; browser sessions are signed cookies.

Environment variables:

- ``CONFIG_CENTER_SECRET_KEY``: signs session cookies and CSRF tokens. Not
  needed: ``runnode`` derives the key from the cluster secret (the same on
  every member, new for every cluster; ``config_center.service_host``). Any
  other command gets a random key of its own; no key is ever committed.
- ``CONFIG_CENTER_DEBUG``: ``1``/``true``/``yes``/``on`` turns Django's debug
  mode on. Off by default.
- ``CONFIG_CENTER_ALLOWED_HOSTS``: comma-separated host names this node answers
  to. Defaults to the loopback names.
- ``CONFIG_CENTER_ALLOWED_ORIGINS``: comma-separated origins (``scheme://host[:port]``,
  e.g. ``https://console.example.com``) whose pages may open websockets to this
  node besides its own (``config_center/ws/origin.py``). None by default.
- ``CONFIG_CENTER_LOG_LEVEL``: level of the node's stderr log (default INFO).
- ``CONFIG_CENTER_LIVE_HEARTBEAT``: seconds between the progress messages of
  an idle live subscription (default 5).
- ``CONFIG_CENTER_LIVE_OUTBOX_MESSAGES`` / ``_BYTES``: how much one live
  websocket may have waiting to be sent (default 256 messages / 8 MiB);
  more waits in the store's watch, within its own bound.
- ``CONFIG_CENTER_LIVE_STALL_SECONDS``: a live websocket whose outbox is
  full and whose client has taken nothing for this long is closed as a slow
  consumer, with the revisions to resume from (default 30).
- ``CONFIG_CENTER_LIVE_HELLO_SECONDS``: a live websocket whose handshake
  authenticated nothing is closed (4001) unless a ``hello`` with a token arrives
  within this many seconds (default 10).
- ``CONFIG_CENTER_WS_MAX_CONNECTIONS``: websockets this node holds at most, of
  both kinds together (default: three quarters of the open-file limit).
- ``CONFIG_CENTER_WS_MAX_UNAUTHENTICATED_PER_ADDRESS``: websockets one client
  address may hold before they authenticate (default 32). Both bounds:
  ``consensus/websocket_protocol.py``.
"""

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = os.environ.get("CONFIG_CENTER_SECRET_KEY") or secrets.token_urlsafe(50)

DEBUG = _env_flag("CONFIG_CENTER_DEBUG", False)

ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("CONFIG_CENTER_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]

# Checked (and refused if malformed) when the websocket routes are built.
ALLOWED_ORIGINS = [
    origin.strip() for origin in os.environ.get("CONFIG_CENTER_ALLOWED_ORIGINS", "").split(",") if origin.strip()
]

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "consensus",
    "config_center",
]

# Django's own middleware, run inline on the event loop (config_center/middleware.py).
MIDDLEWARE = [
    "config_center.middleware.InlineSecurityMiddleware",
    "config_center.middleware.InlineSessionMiddleware",
    "config_center.middleware.InlineCommonMiddleware",
    "config_center.middleware.InlineCsrfViewMiddleware",
    "config_center.middleware.InlineXFrameOptionsMiddleware",
]

ROOT_URLCONF = "config_center.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
            ],
        },
    },
]

ASGI_APPLICATION = "config_center.asgi.application"

# No channel layer: live delivery comes from each member's watch of the
# store, not from messages between consumers. With one configured, every
# consumer registers a channel in it, and the in-memory layer's clean-up
# walks all of them on each receive: with 6,000 sockets open that was 40%
# of the node's time (bench/README.md, live delivery).

# Not a source of truth (see the module docstring); nothing is migrated into it yet.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / ".django.sqlite3",
    }
}

SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 3600

# The REST API (config_center/api): callers are users of the store-backed
# service (session cookie + CSRF, or an API token), never Django's ORM users.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config_center.api.authentication.ApiTokenAuthentication",
        "config_center.api.authentication.StoreSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "config_center.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "config_center API",
    "DESCRIPTION": "Namespaces, items, drafts, releases, diffs, rollback and audit of config_center.",
    "VERSION": "1",
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Live websockets (config_center/ws).
LIVE_HEARTBEAT_SECONDS = float(os.environ.get("CONFIG_CENTER_LIVE_HEARTBEAT", "5"))
LIVE_OUTBOX_MESSAGES = int(os.environ.get("CONFIG_CENTER_LIVE_OUTBOX_MESSAGES", "256"))
LIVE_OUTBOX_BYTES = int(os.environ.get("CONFIG_CENTER_LIVE_OUTBOX_BYTES", str(8 * 1024 * 1024)))
LIVE_STALL_SECONDS = float(os.environ.get("CONFIG_CENTER_LIVE_STALL_SECONDS", "30"))
LIVE_MAX_SUBSCRIPTIONS = 100
LIVE_HELLO_SECONDS = float(os.environ.get("CONFIG_CENTER_LIVE_HELLO_SECONDS", "10"))
# None: the default of consensus/websocket_protocol.py, from the open-file limit.
WS_MAX_CONNECTIONS = int(os.environ["CONFIG_CENTER_WS_MAX_CONNECTIONS"]) if os.environ.get(
    "CONFIG_CENTER_WS_MAX_CONNECTIONS") else None
WS_MAX_UNAUTHENTICATED_PER_ADDRESS = int(os.environ.get("CONFIG_CENTER_WS_MAX_UNAUTHENTICATED_PER_ADDRESS", "32"))

STATIC_URL = "static/"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # The editor, installed from npm by scripts/setup.sh (never committed).
    ("vendor/codemirror", BASE_DIR / "node_modules" / "codemirror"),
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "node": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "node"},
    },
    "loggers": {
        # uvicorn's INFO lines repeat what consensus.runtime_host reports.
        "uvicorn": {"level": "WARNING"},
    },
    "root": {
        "handlers": ["stderr"],
        "level": os.environ.get("CONFIG_CENTER_LOG_LEVEL", "INFO").upper(),
    },
}
