"""List the onesend plugins this site loaded: name, where each came from, its distribution and
version, the hooks it implements, and the plugins that failed to load (on stderr). Exits 0 even
then: the system check (``onesend.E005``) is what fails a deployment on a broken plugin."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from onesend_plugin.hooks import loaded

HEADERS = ("Plugin", "Source", "Distribution", "Version", "Hooks")


def table(rows: list[tuple[str, ...]]) -> str:
    """Rows under ``HEADERS``, in columns as wide as their longest cell."""
    widths = [max(len(row[i]) for row in (HEADERS, *rows)) for i in range(len(HEADERS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (HEADERS, *rows)
    )


class Command(BaseCommand):
    help = "List the onesend plugins found, their versions, the hooks each implements and any load error."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the listing as JSON.")

    def handle(self, *args, **options):
        found = loaded()
        if options["json"]:
            self.stdout.write(json.dumps(found.as_dict(), indent=2))
        else:
            rows = [
                (p.name, p.source, p.distribution or "-", p.version or "-", ", ".join(p.hooks) or "-")
                for p in found.plugins
            ]
            self.stdout.write(table(rows))
        for error in found.errors:
            self.stderr.write(f"Failed to load {error}")
