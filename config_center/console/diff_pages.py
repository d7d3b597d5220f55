"""Diffs a page at a time: a release can change hundreds of items, and
reading and diffing them all would make the page slow and too long to
review. The service reads only the page's items; the rest are named."""
from __future__ import annotations

from typing import Any

from .pages import Page

ITEMS_PER_PAGE = 25


async def diff_page(page: Page, ns: str, old: Any, new: Any) -> dict:
    """Template context: ``changes`` of the page ``?page=`` asks for, and
    ``diff_pager`` (numbers and links) for ``diff_pager.html``."""
    text = page.request.GET.get("page", "1")
    number = int(text) if text.isdigit() and int(text) >= 1 else 1
    result = await page.service.diff(page.principal, ns, old, new, offset=(number - 1) * ITEMS_PER_PAGE,
                                     limit=ITEMS_PER_PAGE)
    total = result["total"]
    pages = max(1, -(-total // ITEMS_PER_PAGE))
    number = min(number, pages)
    query = page.request.GET.copy()

    def link(n: int) -> str:
        query["page"] = str(n)
        return "?" + query.urlencode()

    first = (number - 1) * ITEMS_PER_PAGE
    return {"changes": result["changes"], "diff_pager": {
        "total": total, "page": number, "pages": pages, "first": first + 1,
        "last": min(first + ITEMS_PER_PAGE, total), "names": result["names"],
        "previous": link(number - 1) if number > 1 else "", "next": link(number + 1) if number < pages else "",
    }}
