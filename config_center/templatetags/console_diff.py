"""``{{ change.unified|side_by_side }}``: a unified diff as the console's
two-column rows (``console.diff_rows``)."""
from django import template

from config_center.console.diff_rows import side_by_side as rows_of

register = template.Library()


@register.filter
def side_by_side(unified: str):
    return rows_of(unified or "")
