"""Who may use a client account: its members and their roles, and invitations by e-mail.

Agency staff and the account's client admins manage them (the ``manage_account`` role action).
Every change is audit-logged on the account, and takes effect on the member's next request:
roles are read from the database per request (``scoping.roles``), never kept in the session.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.forms import SetPasswordForm
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.log_actions import log

from .. import scoping
from ..models import Account, Invitation, Membership
from .groups import ensure_client_group

URL_NAME = "onesend_members"


def can_manage(user, account: Account) -> bool:
    return scoping.allows(user, account, "change")


class InviteForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("E-mail"))
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.EDITOR)

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if self.account.memberships.filter(user__email__iexact=email).exists():
            raise forms.ValidationError(
                _("%(email)s is already a member of this account.") % {"email": email}
            )
        return email


class MembersView(WagtailAdminTemplateMixin, TemplateView):
    """An account's members (change a role, remove access), its pending invitations (revoke)
    and the invitation form. Outside the user's accounts: 404; without the right to manage it
    (editors, analysts): permission denied."""

    model = Account
    template_name = "onesend_plugin/admin/members.html"
    header_icon = "group"

    def dispatch(self, request, pk):
        self.account = scoping.get_or_404(Account, pk, request.user, "change")
        return super().dispatch(request, pk)

    def get_page_title(self):
        return _("Members of %(account)s") % {"account": self.account}

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        account = self.account
        context.update(
            account=account,
            memberships=account.memberships.select_related("user").order_by("user__email", "user__username"),
            invitations=account.invitations.filter(accepted_at__isnull=True).select_related("invited_by"),
            roles=Membership.Role.choices,
            form=form or InviteForm(account=account),
            now=timezone.now(),
        )
        return context

    def post(self, request, pk):
        action = request.POST.get("action")
        if action == "invite":
            form = InviteForm(request.POST, account=self.account)
            if not form.is_valid():
                return self.render_to_response(self.get_context_data(form=form))
            self.invite(form.cleaned_data["email"], form.cleaned_data["role"])
        elif action in ("role", "remove"):
            self.change_membership(action, request.POST.get("membership"), request.POST.get("role"))
        elif action == "revoke":
            self.revoke(request.POST.get("invitation"))
        else:
            messages.error(request, _("Unknown action."))
        return redirect(URL_NAME, pk=self.account.pk)

    def invite(self, email: str, role: str) -> None:
        invitation, token = Invitation.issue(
            account=self.account, email=email, role=role, invited_by=self.request.user
        )
        send_invitation(self.request, invitation, token)
        log(
            self.account,
            "onesend.invitation.send",
            user=self.request.user,
            data={"email": email, "role": role},
        )
        messages.success(self.request, _("Invitation sent to %(email)s.") % {"email": email})

    def revoke(self, invitation_id) -> None:
        invitation = self.account.invitations.filter(
            pk=invitation_id if str(invitation_id).isdigit() else None, accepted_at__isnull=True
        ).first()
        if invitation is None:
            messages.error(self.request, _("No such pending invitation."))
            return
        invitation.delete()
        log(
            self.account,
            "onesend.invitation.revoke",
            user=self.request.user,
            data={"email": invitation.email, "role": invitation.role},
        )
        messages.success(self.request, _("Invitation to %(email)s revoked.") % {"email": invitation.email})

    def change_membership(self, action: str, membership_id, role) -> None:
        membership = (
            self.account.memberships.select_related("user")
            .filter(pk=membership_id if str(membership_id).isdigit() else None)
            .first()
        )
        if membership is None:
            messages.error(self.request, _("No such member."))
            return
        if membership.user_id == self.request.user.pk:
            messages.error(self.request, _("You cannot change your own access; ask another admin."))
            return
        who = membership.user.email or membership.user.get_username()
        if action == "remove":
            membership.delete()
            log(self.account, "onesend.member.remove", user=self.request.user, data={"member": who})
            messages.success(self.request, _("%(member)s no longer has access.") % {"member": who})
            return
        if role not in Membership.Role.values:
            messages.error(self.request, _("Unknown role."))
            return
        previous, membership.role = membership.role, role
        membership.save(update_fields=["role"])
        log(
            self.account,
            "onesend.member.role",
            user=self.request.user,
            data={"member": who, "from": previous, "to": role},
        )
        messages.success(
            self.request,
            _("%(member)s is now %(role)s.") % {"member": who, "role": membership.get_role_display()},
        )


def send_invitation(request, invitation: Invitation, token: str) -> None:
    """E-mail the invitation through Django's e-mail backend (the console backend in the demo)."""
    context = {
        "invitation": invitation,
        "url": request.build_absolute_uri(reverse("onesend:invitation", args=[token])),
        "inviter": request.user.get_full_name() or request.user.get_username(),
    }
    send_mail(
        _("You are invited to %(account)s on Messenger marketing") % {"account": invitation.account},
        render_to_string("onesend_plugin/admin/invitation_email.txt", context),
        None,
        [invitation.email],
    )


# -- Accepting (public: the invited person may have no user yet) ----------------------------------


def accept_invitation(request, token: str):
    """The link of the e-mail. A new person sets a password (their e-mail is their username);
    someone who already has a user signs in as that user, then confirms. The membership is
    created once: a used, expired, revoked or forged link says so and does nothing."""
    invitation = (
        Invitation.objects.select_related("account").filter(token_hash=Invitation.hash(token)).first()
    )
    problem = _problem(invitation)
    if problem:
        status = 404 if invitation is None else 410
        return render(request, "onesend_plugin/invitation.html", {"problem": problem}, status=status)

    User = get_user_model()
    email = invitation.email
    existing = User.objects.filter(Q(email__iexact=email) | Q(username__iexact=email)).order_by("pk").first()
    context = {"invitation": invitation}
    if existing is not None:
        if not request.user.is_authenticated:
            login_url = reverse("wagtailadmin_login")
            return HttpResponseRedirect(f"{login_url}?{urlencode({'next': request.get_full_path()})}")
        if request.user.pk != existing.pk:
            context["problem"] = _(
                "This invitation is for %(email)s, but you are signed in as %(user)s. Sign out and open the "
                "link again."
            ) % {"email": email, "user": request.user.get_username()}
            return render(request, "onesend_plugin/invitation.html", context, status=403)
        if request.method == "POST":
            return _accepted(request, invitation, request.user)
        return render(request, "onesend_plugin/invitation.html", context)

    new_user = User(username=email, email=email)
    form = SetPasswordForm(new_user, request.POST if request.method == "POST" else None)
    if form.is_valid():
        with transaction.atomic():
            user = form.save()
            response = _accepted(request, invitation, user)
            if response.status_code != 302:
                transaction.set_rollback(True)  # the link was used meanwhile: no orphan user
                return response
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return response
    context["form"] = form
    return render(request, "onesend_plugin/invitation.html", context)


def _problem(invitation: Invitation | None) -> str:
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


def _accepted(request, invitation: Invitation, user):
    """Use the invitation (once: the conditional update is the lock) and give the access."""
    with transaction.atomic():
        claimed = Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, expires_at__gt=timezone.now()
        ).update(accepted_at=timezone.now(), accepted_by=user)
        if not claimed:
            problem = _("This invitation has already been used. Sign in to the admin instead.")
            return render(request, "onesend_plugin/invitation.html", {"problem": problem}, status=410)
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
    messages.success(request, _("Welcome to %(account)s.") % {"account": invitation.account})
    return redirect("wagtailadmin_home")


def admin_urls() -> list:
    return [path("messenger/accounts/<int:pk>/members/", MembersView.as_view(), name=URL_NAME)]
