"""The ``<ns:...>`` path converter the API and the console share."""
from django.urls import register_converter
from django.urls.converters import get_converters


class NamespaceConverter:
    """A namespace path: segments without a ``-`` segment among them."""

    regex = r"[a-z0-9][a-z0-9._-]*(?:/[a-z0-9][a-z0-9._-]*)*"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


def register_namespace_converter() -> None:
    if "ns" not in get_converters():  # Django refuses a second registration
        register_converter(NamespaceConverter, "ns")
