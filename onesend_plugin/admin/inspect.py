"""The base of onesend's inspect views: a field that is not set reads "—", as Wagtail's listings
show it, instead of Python's "None" (a subscriber never unsubscribed, a Page never called).
The campaign's progress page lists only the settings it uses instead."""

from __future__ import annotations

from wagtail.admin.views.generic.models import InspectView as WagtailInspectView

#: What an unset field reads.
UNSET = "—"


class InspectView(WagtailInspectView):
    """Wagtail's InspectView with unset fields read as "—"."""

    def get_field_display_value(self, field_name, field):
        value = super().get_field_display_value(field_name, field)
        return UNSET if value is None or value == "" else value
