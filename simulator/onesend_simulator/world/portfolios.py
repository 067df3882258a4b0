"""Pages a business holds in Business Manager: the businesses a user works for, and the Pages each
owns or is a client of. A person who manages a Page only through their business does not see it
in ``/me/accounts``; an app lists it through ``/me/businesses`` and each business's
``owned_pages`` and ``client_pages`` (Graph API reference: User businesses,
https://developers.facebook.com/docs/graph-api/reference/user/businesses/; Business owned_pages,
https://developers.facebook.com/docs/graph-api/reference/business/owned_pages/; Business
client_pages, https://developers.facebook.com/documentation/ads-commerce/marketing-api/reference/business/client_pages).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import errors
from ..errors import ControlError
from ..model import PAGE_TASKS, Grant, User, new_digits
from .base import WorldState, page_of

#: The two business edges listing Pages, and the business's list of each.
PAGE_EDGES = {"owned_pages": "owned_page_ids", "client_pages": "client_page_ids"}


class PortfoliosMixin(WorldState):
    """Businesses and their Pages (a part of ``World``)."""

    def businesses_of(self, value: Any) -> list[dict[str, Any]]:
        """Check a user's ``businesses`` (control API): ``[{"id", "name", "owned_page_ids",
        "client_page_ids"}]``, every Page known."""
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise ControlError("businesses must be a list of objects")
        checked = []
        for item in value:
            business_id = str(item.get("id") or new_digits(15, {}))
            if not business_id.isdigit():
                raise ControlError("a business id must be numeric")
            lists = {key: [str(page_id) for page_id in item.get(key) or []] for key in PAGE_EDGES.values()}
            for page_id in (page_id for ids in lists.values() for page_id in ids):
                self.page(page_id)  # type: ignore[attr-defined]
            checked.append(
                {"id": business_id, "name": str(item.get("name") or f"Business {business_id}"), **lists}
            )
        return checked

    @staticmethod
    def reachable_pages(user: User) -> list[str]:
        """The Pages the user may choose in the login dialog: theirs, then their businesses'."""
        ids = [*user.page_ids]
        for business in user.businesses:
            ids += [page_id for key in PAGE_EDGES.values() for page_id in business[key]]
        return list(dict.fromkeys(ids))

    def businesses(
        self, grant: Grant, params: Mapping[str, Any]
    ) -> tuple[list[dict], str | None, str | None, bool]:
        """One page of ``/me/businesses`` (needs ``business_management``)."""
        user = self._business_user(grant)
        rows = [{"id": business["id"], "name": business["name"]} for business in user.businesses]
        return page_of(rows, params, default_limit=25)

    def business_pages(
        self, grant: Grant, business_id: str, edge: str, params: Mapping[str, Any]
    ) -> tuple[list[dict], str | None, str | None, bool]:
        """One page of ``/{business}/owned_pages`` or ``client_pages``: the Pages the person chose
        in the dialog, with their Page token when ``fields`` asks for ``access_token``."""
        user = self._business_user(grant)
        business = next((b for b in user.businesses if b["id"] == business_id), None)
        if business is None:
            raise errors.no_object(business_id, "GET")
        fields = str(params.get("fields") or "id,name").split(",")
        rows = []
        for page_id in (p for p in business[PAGE_EDGES[edge]] if p in grant.page_ids):
            page = self.pages[page_id]
            row = {"id": page_id, "name": page.name, "tasks": list(PAGE_TASKS)}
            if "access_token" in fields:
                row["access_token"] = page.access_token
            rows.append(row)
        return page_of(rows, params, default_limit=25)

    def _business_user(self, grant: Grant) -> User:
        user = self.user(grant.user_id)  # type: ignore[attr-defined]
        if "business_management" not in user.granted:
            raise errors.missing_permission("business_management")
        return user
