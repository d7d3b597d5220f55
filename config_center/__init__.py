"""config_center: a dynamic configuration center backed by its own replicated store.

This package holds the Django project (settings, URLs, the ASGI entry point) and,
later, the config service layer. It never reaches into Raft internals: it talks to
the store through a small etcd-shaped client interface.
"""

__version__ = "0.1.0.dev0"
