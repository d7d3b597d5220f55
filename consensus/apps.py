"""Django app registration for ``consensus``.

Registering the package as an app is what makes ``manage.py runnode`` (in
``consensus/management/commands``) discoverable. Nothing below ``consensus/``'s
runtime layer imports Django: the Raft core, the WAL and the transport stay free
of it (``tests/test_layering.py`` checks).
"""

from django.apps import AppConfig


class ConsensusConfig(AppConfig):
    name = "consensus"
    verbose_name = "Replicated store (Raft + MVCC)"
