"""Permission policies for onesend's admin surfaces."""

from __future__ import annotations

from wagtail.permission_policies import ModelPermissionPolicy


class ReadOnlyPermissionPolicy(ModelPermissionPolicy):
    """Rows only onesend itself writes (the webhook inbox): staff may look, nobody may edit,
    not even superusers — an edited inbox would no longer be evidence of what Meta sent."""

    def user_has_permission(self, user, action):
        return action == "view" and super().user_has_permission(user, action)

    def user_has_any_permission(self, user, actions):
        return any(self.user_has_permission(user, action) for action in actions)


class SubscriberPermissionPolicy(ModelPermissionPolicy):
    """Subscribers come only from opt-ins and leave only through erasure, which keeps the
    consent trail: nobody adds or plainly deletes one, not even superusers. Erasing needs the
    custom ``erase`` action (``onesend.erase_subscriber``)."""

    def user_has_permission(self, user, action):
        return action not in ("add", "delete") and super().user_has_permission(user, action)
