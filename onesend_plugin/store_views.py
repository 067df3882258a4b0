"""``sign`` where docs/plugins.md first documented it, for sites that import it from here; the
endpoints live in ``store/views.py``."""

from .store.views import sign

__all__ = ["sign"]
