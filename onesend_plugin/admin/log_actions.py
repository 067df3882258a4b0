"""How the admin's history and log reports name onesend's audit-log actions, in the order
Wagtail lists them: a fixed label and message, or a formatter that reads the entry's data."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from wagtail.log_actions import LogFormatter

# -- Members and invitations, logged on the account (``onesend_plugin.accounts.membership``) --------


class InvitationSentFormatter(LogFormatter):
    label = _("Invite")

    def format_message(self, log_entry):
        return _("Invited %(email)s as %(role)s") % log_entry.data


class InvitationRevokedFormatter(LogFormatter):
    label = _("Revoke invitation")

    def format_message(self, log_entry):
        return _("Revoked the invitation of %(email)s") % log_entry.data


class InvitationAcceptedFormatter(LogFormatter):
    label = _("Accept invitation")

    def format_message(self, log_entry):
        return _("%(email)s joined as %(role)s") % log_entry.data


class MemberRoleFormatter(LogFormatter):
    label = _("Change role")

    def format_message(self, log_entry):
        return _("%(member)s: role %(from)s → %(to)s") % log_entry.data


class MemberRemovedFormatter(LogFormatter):
    label = _("Remove access")

    def format_message(self, log_entry):
        return _("Removed the access of %(member)s") % log_entry.data


# -- Written by the broadcast engine (``onesend_plugin.broadcast``) ----------------------------------


class PauseFormatter(LogFormatter):
    label = _("Pause")

    def format_message(self, log_entry):
        if reason := log_entry.data.get("reason"):
            return _("Paused: %(reason)s") % {"reason": reason}
        return _("Paused")


class RetryUnknownFormatter(LogFormatter):
    label = _("Retry unknown")

    def format_message(self, log_entry):
        return _("%(count)s messages of unknown fate queued again") % {
            "count": log_entry.data.get("count", 0)
        }


class SendTestFormatter(LogFormatter):
    label = _("Send test")

    def format_message(self, log_entry):
        subscriber = log_entry.data.get("subscriber")
        if log_entry.data.get("variant") == "b":
            return _("Test of variant B sent to subscriber %(subscriber)s") % {"subscriber": subscriber}
        return _("Test sent to subscriber %(subscriber)s") % {"subscriber": subscriber}


#: Every action: ``(name, formatter class)`` or ``(name, label, message)``.
LOG_ACTIONS: tuple[tuple, ...] = (
    ("onesend.unsubscribe", _("Unsubscribe"), _("Unsubscribed from marketing messages")),
    ("onesend.erase", _("Erase subscriber"), _("Subscriber erased")),
    ("onesend.invitation.send", InvitationSentFormatter),
    ("onesend.invitation.revoke", InvitationRevokedFormatter),
    ("onesend.invitation.accept", InvitationAcceptedFormatter),
    ("onesend.member.role", MemberRoleFormatter),
    ("onesend.member.remove", MemberRemovedFormatter),
    # Written by "Connect a Facebook Page" and the Page's "Re-check" (``onesend_plugin.admin.onboarding``).
    ("onesend.page.connect", _("Connect Page"), _("Page connected through Facebook Login")),
    ("onesend.page.recheck", _("Re-check Page"), _("Page connection re-checked")),
    (
        "onesend.page.subscribe_app",
        _("Subscribe app to Page"),
        _("App subscribed to the Page's webhooks from its health panel"),
    ),
    (
        "onesend.page.import_tokens",
        _("Import subscribers from Meta"),
        _("Import of Meta's subscribers started"),
    ),
    (
        "onesend.page.upload_customers",
        _("Upload store customers to Meta"),
        _("Upload of the shop's customers to the Page's Meta audience started"),
    ),
    # Written by the Page's "Connect the ad account" (``onesend_plugin.admin.adaccounts``).
    (
        "onesend.page.connect_ad_account",
        _("Connect ad account"),
        _("Ad account connected through Facebook Login for Business"),
    ),
    ("onesend.campaign.start", _("Start sending"), _("Sending started")),
    ("onesend.campaign.schedule", _("Schedule"), _("Scheduled")),
    ("onesend.campaign.resume", _("Resume"), _("Resumed")),
    ("onesend.campaign.cancel", _("Cancel"), _("Cancelled")),
    ("onesend.campaign.pause", PauseFormatter),
    ("onesend.campaign.retry_unknown", RetryUnknownFormatter),
    ("onesend.campaign.send_test", SendTestFormatter),
)


def register(actions) -> None:
    """For the ``register_log_actions`` hook."""
    for name, *described in LOG_ACTIONS:
        if len(described) == 1:
            actions.register_action(name)(described[0])
        else:
            actions.register_action(name, *described)
