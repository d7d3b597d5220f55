"""Django settings for a config_center node.

Django's own database is not a source of truth for anything: configuration,
users, audit records and sessions-that-matter live in the replicated store (see
ARCHITECTURE.md). The ORM database below only exists because contrib apps that
DRF relies on expect one; browser sessions are signed cookies.

Environment variables:

- ``CONFIG_CENTER_SECRET_KEY``: signs cookies and tokens. It must be the same on
  every member of a cluster and secret in production; the default is for
  development only.
- ``CONFIG_CENTER_DEBUG``: ``1``/``true``/``yes``/``on`` turns Django's debug
  mode on. Off by default.
- ``CONFIG_CENTER_ALLOWED_HOSTS``: comma-separated host names this node answers
  to. Defaults to the loopback names.
- ``CONFIG_CENTER_LOG_LEVEL``: level of the node's stderr log (default INFO).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = os.environ.get(
    "CONFIG_CENTER_SECRET_KEY",
    "django-insecure-config-center-development-key-do-not-use-in-production",
)

DEBUG = _env_flag("CONFIG_CENTER_DEBUG", False)

ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("CONFIG_CENTER_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "channels",
    "consensus",
    "config_center",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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

CHANNEL_LAYERS = {
    "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
}

# Not a source of truth (see the module docstring); nothing is migrated into it yet.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / ".django.sqlite3",
    }
}

SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
SESSION_COOKIE_HTTPONLY = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]

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
