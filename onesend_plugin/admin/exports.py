"""Spreadsheet exports whose cells a spreadsheet program never runs as formulas (CSV injection).

Campaign names, tags, refs and currencies are typed by clients or sent by their stores; a cell
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel and
LibreOffice. As OWASP recommends, such a cell is prefixed with a single quote, which the
spreadsheet shows as text. Every CSV onesend writes goes through :func:`spreadsheet_safe`.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

#: A plain number (a negative amount, say) is not a formula and stays a number.
NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")


def spreadsheet_safe(value):
    """``value``, with a quote in front when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


class SafeSpreadsheetExportMixin:
    """For views with Wagtail's ``SpreadsheetExportMixin``: every CSV cell and every heading (a
    revenue column is named after a store's currency) is :func:`spreadsheet_safe`. Wagtail already
    keeps XLSX cells as text, but not XLSX headings."""

    def preprocess_field_value(self, field, value, export_format):
        value = super().preprocess_field_value(field, value, export_format)
        return spreadsheet_safe(value) if export_format == self.FORMAT_CSV else value

    def get_heading(self, queryset, field):
        return spreadsheet_safe(super().get_heading(queryset, field))
