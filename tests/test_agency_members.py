"""Agencies, who works on a client account: inviting client users (the email, its link, expiry
and revocation) and managing members and their roles, by the account's admins and the agency."""

from __future__ import annotations

import re
from datetime import timedelta
from smtplib import SMTPConnectError
from urllib.parse import urlsplit

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone
from wagtail.models import ModelLogEntry

from onesend_plugin.accounts import scoping
from onesend_plugin.models import Invitation, Membership

from .agency_helpers import denied
from .factories import CampaignFactory, MessengerPageFactory

pytestmark = pytest.mark.django_db


# -- Invitations and members ------------------------------------------------------------------------


def invite(client, account, email="new@client.example", role=Membership.Role.EDITOR):
    return client.post(
        f"/admin/messenger/accounts/{account.pk}/members/", {"action": "invite", "email": email, "role": role}
    )


def link_of(message) -> str:
    return re.search(r"https?://\S+/onesend/invitation/\S+/", message.body).group(0)


@pytest.fixture
def acme_admin(client, member, acme):
    user = member(acme, Membership.Role.ADMIN, email="boss@acme.example")
    client.force_login(user)
    return client


def test_a_client_admin_invites_and_the_new_user_joins(acme_admin, acme, globex, django_user_model):
    response = invite(acme_admin, acme, role=Membership.Role.ANALYST)
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new@client.example"]
    url = link_of(mail.outbox[0])
    token = url.rstrip("/").rsplit("/", 1)[1]
    invitation = Invitation.objects.get()
    assert invitation.token_hash == Invitation.hash(token) and token not in invitation.token_hash
    assert (
        "new@client.example"
        in acme_admin.get(f"/admin/messenger/accounts/{acme.pk}/members/").content.decode()
    )

    acme_admin.logout()
    path = url.split("://", 1)[1].split("/", 1)[1]
    page = acme_admin.get(f"/{path}")
    assert page.status_code == 200 and "Choose a password" in page.content.decode()
    response = acme_admin.post(
        f"/{path}", {"new_password1": "one-passphrase-1", "new_password2": "another-passphrase-2"}
    )
    assert (
        response.status_code == 200
        and not django_user_model.objects.filter(email="new@client.example").exists()
    )
    strong = "a-long-enough-passphrase-42"
    response = acme_admin.post(f"/{path}", {"new_password1": strong, "new_password2": strong})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    user = django_user_model.objects.get(email="new@client.example")
    assert (
        Membership.objects.get(user=user).account == acme
        and Membership.objects.get(user=user).role == "analyst"
    )
    # signed in, sees their account only
    html = acme_admin.get("/admin/messenger/accounts/").content.decode()
    assert "Acme" in html and "Globex" not in html
    # single use
    response = acme_admin.post(f"/{path}", {"new_password1": strong, "new_password2": strong})
    assert response.status_code == 410 and "already been used" in response.content.decode()
    actions = set(ModelLogEntry.objects.filter(object_id=str(acme.pk)).values_list("action", flat=True))
    assert {"onesend.invitation.send", "onesend.invitation.accept"} <= actions


class FailingMailBackend(BaseEmailBackend):
    """An SMTP server that refuses the connection."""

    def send_messages(self, email_messages):
        raise SMTPConnectError(421, "Service not available")


def test_an_invitation_whose_email_fails_is_shown_with_its_link_and_stays_valid(acme_admin, acme, settings):
    settings.EMAIL_BACKEND = f"{__name__}.FailingMailBackend"
    response = invite(acme_admin, acme)
    assert response.status_code == 302 and not mail.outbox
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert len(shown) == 1 and "could not be sent" in shown[0] and "new@client.example" in shown[0]
    url = re.search(r"https?://\S+/onesend/invitation/\S+/", shown[0]).group(0)
    assert Invitation.objects.get().token_hash == Invitation.hash(url.rstrip("/").rsplit("/", 1)[1])

    acme_admin.logout()
    page = acme_admin.get(urlsplit(url).path)
    assert page.status_code == 200 and "Choose a password" in page.content.decode()


def test_an_existing_user_signs_in_then_accepts(client, acme_admin, acme, django_user_model, member, globex):
    existing = member(globex, Membership.Role.EDITOR, username="gina", email="gina@example.com")
    invite(acme_admin, acme, email="GINA@example.com", role=Membership.Role.ADMIN)
    path = "/" + link_of(mail.outbox[0]).split("://", 1)[1].split("/", 1)[1]
    acme_admin.logout()
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    client.force_login(django_user_model.objects.get(username="admin-acme"))  # someone else
    assert client.get(path).status_code == 403
    client.force_login(existing)
    assert client.get(path).status_code == 200
    assert client.post(path).status_code == 302
    assert scoping.roles(django_user_model.objects.get(pk=existing.pk)) == {
        globex.pk: "editor",
        acme.pk: "admin",
    }


def test_expired_revoked_and_forged_links_say_so(acme_admin, acme):
    invite(acme_admin, acme, email="late@client.example")
    invite(acme_admin, acme, email="revoked@client.example")
    late, revoked = (link_of(m).split("://", 1)[1].split("/", 1)[1] for m in mail.outbox)
    Invitation.objects.filter(email="late@client.example").update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    pending = Invitation.objects.get(email="revoked@client.example")
    response = acme_admin.post(
        f"/admin/messenger/accounts/{acme.pk}/members/", {"action": "revoke", "invitation": pending.pk}
    )
    assert response.status_code == 302 and not Invitation.objects.filter(pk=pending.pk).exists()
    acme_admin.logout()
    response = acme_admin.get(f"/{late}")
    assert response.status_code == 410 and "expired" in response.content.decode()
    response = acme_admin.get(f"/{revoked}")
    assert response.status_code == 404 and "not valid" in response.content.decode()
    response = acme_admin.get("/onesend/invitation/forged-token/")
    assert response.status_code == 404 and "not valid" in response.content.decode()
    assert (
        Membership.objects.filter(user__email__in=["late@client.example", "revoked@client.example"]).count()
        == 0
    )
    assert ModelLogEntry.objects.filter(action="onesend.invitation.revoke").count() == 1


def test_inviting_a_member_again_is_refused(acme_admin, acme, member):
    member(acme, Membership.Role.EDITOR, username="ed", email="ed@acme.example")
    response = invite(acme_admin, acme, email="ED@acme.example")
    assert response.status_code == 200 and "already a member" in response.content.decode()
    assert not mail.outbox


@pytest.mark.parametrize("role", [Membership.Role.EDITOR, Membership.Role.ANALYST])
def test_editors_and_analysts_cannot_manage_members(client, member, acme, role):
    user = member(acme, role)
    other = member(acme, Membership.Role.ANALYST, username="other")
    client.force_login(user)
    url = f"/admin/messenger/accounts/{acme.pk}/members/"
    assert denied(client.get(url))
    assert denied(invite(client, acme))
    assert denied(client.post(url, {"action": "remove", "membership": other.onesend_memberships.get().pk}))
    assert not mail.outbox and not Invitation.objects.exists()
    assert Membership.objects.filter(user=other).exists()


def test_a_client_admin_cannot_manage_another_account(acme_admin, globex, member):
    victim = member(globex, Membership.Role.ADMIN, username="globex-boss")
    url = f"/admin/messenger/accounts/{globex.pk}/members/"
    assert acme_admin.get(url).status_code == 404
    assert invite(acme_admin, globex).status_code == 404
    response = acme_admin.post(
        url, {"action": "role", "membership": victim.onesend_memberships.get().pk, "role": "analyst"}
    )
    assert response.status_code == 404
    assert victim.onesend_memberships.get().role == "admin" and not mail.outbox


def test_role_changes_and_removal_take_effect_at_once(client, acme_admin, acme, member, django_user_model):
    editor = member(acme, Membership.Role.EDITOR, username="ed")
    campaign = CampaignFactory(page=MessengerPageFactory(account=acme))
    membership = editor.onesend_memberships.get()
    url = f"/admin/messenger/accounts/{acme.pk}/members/"
    edit = f"/admin/messenger/campaigns/edit/{campaign.pk}/"

    from django.test import Client

    ed = Client()
    ed.force_login(editor)
    assert ed.get(edit).status_code == 200
    acme_admin.post(url, {"action": "role", "membership": membership.pk, "role": "analyst"})
    assert Membership.objects.get(pk=membership.pk).role == "analyst"
    assert denied(ed.get(edit))
    assert ed.get(f"/admin/messenger/campaigns/inspect/{campaign.pk}/").status_code == 200
    acme_admin.post(url, {"action": "remove", "membership": membership.pk})
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert denied(ed.get(f"/admin/messenger/campaigns/inspect/{campaign.pk}/"))
    actions = list(ModelLogEntry.objects.filter(object_id=str(acme.pk)).values_list("action", flat=True))
    assert "onesend.member.role" in actions and "onesend.member.remove" in actions
    history = acme_admin.get(f"/admin/messenger/accounts/history/{acme.pk}/").content.decode()
    assert "role editor → analyst" in history


def test_nobody_changes_their_own_access(acme_admin, acme):
    mine = Membership.objects.get(account=acme, user__username="admin-acme")
    acme_admin.post(
        f"/admin/messenger/accounts/{acme.pk}/members/", {"action": "remove", "membership": mine.pk}
    )
    assert Membership.objects.filter(pk=mine.pk).exists()


def test_agency_staff_manage_any_accounts_members(client, agency_user, acme, globex):
    client.force_login(agency_user)
    for account in (acme, globex):
        assert client.get(f"/admin/messenger/accounts/{account.pk}/members/").status_code == 200
        assert invite(client, account, email=f"x@{account.slug}.example").status_code == 302
    assert len(mail.outbox) == 2
