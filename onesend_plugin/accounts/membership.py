"""Who may use a client account, and how that changes: members and their roles, invitations.

Agency staff and the account's client admins manage them (the ``manage_account`` role action).
Every change is audit-logged on the account and takes effect on the member's next request:
roles are read from the database per request (``scoping.roles``), never kept in the session.
An invitation is used once, before it expires; accepting it gives its role on its account.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from wagtail.log_actions import log

from ..models import Account, Invitation, Membership
from . import scoping
from .groups import ensure_client_group


class MembershipError(Exception):
    """A change the rules refuse; the message tells the person who asked why."""


def is_member(account: Account, email: str) -> bool:
    return account.memberships.filter(user__email__iexact=email).exists()


def member_name(membership: Membership) -> str:
    return membership.user.email or membership.user.get_username()


# -- Invitations ------------------------------------------------------------------------------------


def invite(
    account: Account, email: str, role: str, by, send: Callable[[Invitation, str], None]
) -> Invitation:
    """Issue an invitation, ``send`` it (with its one-time token), then log it on the account."""
    invitation, token = Invitation.issue(account=account, email=email, role=role, invited_by=by)
    send(invitation, token)
    log(account, "onesend.invitation.send", user=by, data={"email": email, "role": role})
    return invitation


def revoke(account: Account, invitation_id, by) -> Invitation:
    """Delete a pending invitation of ``account`` (the link stops working)."""
    invitation = account.invitations.filter(
        pk=invitation_id if str(invitation_id).isdigit() else None, accepted_at__isnull=True
    ).first()
    if invitation is None:
        raise MembershipError(_("No such pending invitation."))
    invitation.delete()
    log(
        account,
        "onesend.invitation.revoke",
        user=by,
        data={"email": invitation.email, "role": invitation.role},
    )
    return invitation


def find_invitation(token: str) -> Invitation | None:
    return Invitation.objects.select_related("account").filter(token_hash=Invitation.hash(token)).first()


def invitation_problem(invitation: Invitation | None) -> str:
    """Why the invitation cannot be used (forged or revoked, used, expired), or ``""``."""
    if invitation is None:
        return _(
            "This invitation link is not valid: it may have been revoked, or mistyped. Ask for a new one."
        )
    if invitation.accepted_at is not None:
        return _("This invitation has already been used. Sign in to the admin instead.")
    if invitation.is_expired:
        return _("This invitation expired on %(date)s. Ask for a new one.") % {
            "date": timezone.localtime(invitation.expires_at).strftime("%Y-%m-%d %H:%M")
        }
    return ""


def existing_user(email: str):
    """The user an invitation to ``email`` is for, if they have one (e-mail or username)."""
    User = get_user_model()
    return User.objects.filter(Q(email__iexact=email) | Q(username__iexact=email)).order_by("pk").first()


def accept(invitation: Invitation, user) -> bool:
    """Use the invitation (once: the conditional update is the lock) and give the access. False
    when it was used (or expired) meanwhile: nothing changes."""
    with transaction.atomic():
        claimed = Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, expires_at__gt=timezone.now()
        ).update(accepted_at=timezone.now(), accepted_by=user)
        if not claimed:
            return False
        Membership.objects.update_or_create(
            user=user, account=invitation.account, defaults={"role": invitation.role}
        )
        if not scoping.is_agency(user):
            user.groups.add(ensure_client_group())
        log(
            invitation.account,
            "onesend.invitation.accept",
            user=user,
            data={"email": invitation.email, "role": invitation.role},
        )
    return True


# -- Members ----------------------------------------------------------------------------------------


def _changeable(account: Account, membership_id, by) -> Membership:
    """The membership ``by`` asks to change: one of ``account``'s, never their own."""
    membership = (
        account.memberships.select_related("user")
        .filter(pk=membership_id if str(membership_id).isdigit() else None)
        .first()
    )
    if membership is None:
        raise MembershipError(_("No such member."))
    if membership.user_id == by.pk:
        raise MembershipError(_("You cannot change your own access; ask another admin."))
    return membership


def remove(account: Account, membership_id, by) -> str:
    """End a member's access to ``account``; returns who it was."""
    membership = _changeable(account, membership_id, by)
    who = member_name(membership)
    membership.delete()
    log(account, "onesend.member.remove", user=by, data={"member": who})
    return who


def change_role(account: Account, membership_id, role, by) -> Membership:
    """Give a member another role on ``account``."""
    membership = _changeable(account, membership_id, by)
    if role not in Membership.Role.values:
        raise MembershipError(_("Unknown role."))
    previous, membership.role = membership.role, role
    membership.save(update_fields=["role"])
    log(
        account,
        "onesend.member.role",
        user=by,
        data={"member": member_name(membership), "from": previous, "to": role},
    )
    return membership
