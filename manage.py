#!/usr/bin/env python
"""Django's command-line entry point for config_center (``runnode`` and the rest)."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config_center.settings")
    # Before Django loads INSTALLED_APPS: the daphne app imports daphne.server,
    # which imports Twisted's reactor. Installing the asyncio reactor first, on a
    # loop we create, makes that loop the one daphne and the Raft node share.
    from consensus.runtime_host import install_reactor

    install_reactor()

    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
