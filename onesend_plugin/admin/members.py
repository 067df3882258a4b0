"""The members page of a client account (members, roles, invitations) and the public page that
accepts an invitation. The rules (who may change what, once-only invitations) are
:mod:`onesend_plugin.accounts.membership`'s; these views show them and report the outcome.
"""

from __future__ import annotations

import logging

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.forms import SetPasswordForm
from django.core.mail import send_mail
from django.db import transaction
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

from ..accounts import membership, scoping
from ..models import Account, Invitation, Membership

logger = logging.getLogger(__name__)

URL_NAME = "onesend_members"


class InviteForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("E-mail"))
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.EDITOR)

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if membership.is_member(self.account, email):
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
        unsent: list[str] = []  # the link, when the e-mail could not be sent

        def send(invitation: Invitation, token: str) -> None:
            url = self.request.build_absolute_uri(reverse("onesend:invitation", args=[token]))
            try:
                send_invitation(self.request, invitation, url)
            except Exception:  # whatever the e-mail backend raises (SMTP down, wrong settings)
                logger.exception("The invitation e-mail to %s could not be sent.", email)
                unsent.append(url)

        membership.invite(self.account, email, role, by=self.request.user, send=send)
        if unsent:  # the invitation stands: its link is shown once, here, to hand over another way
            messages.warning(
                self.request,
                _(
                    "The invitation e-mail to %(email)s could not be sent (see the server's log), but "
                    "the invitation is valid: give them this link another way: %(url)s"
                )
                % {"email": email, "url": unsent[0]},
            )
            return
        messages.success(self.request, _("Invitation sent to %(email)s.") % {"email": email})

    def revoke(self, invitation_id) -> None:
        try:
            invitation = membership.revoke(self.account, invitation_id, by=self.request.user)
        except membership.MembershipError as refused:
            messages.error(self.request, str(refused))
            return
        messages.success(self.request, _("Invitation to %(email)s revoked.") % {"email": invitation.email})

    def change_membership(self, action: str, membership_id, role) -> None:
        try:
            if action == "remove":
                who = membership.remove(self.account, membership_id, by=self.request.user)
                messages.success(self.request, _("%(member)s no longer has access.") % {"member": who})
                return
            member = membership.change_role(self.account, membership_id, role, by=self.request.user)
        except membership.MembershipError as refused:
            messages.error(self.request, str(refused))
            return
        messages.success(
            self.request,
            _("%(member)s is now %(role)s.")
            % {"member": membership.member_name(member), "role": member.get_role_display()},
        )


def send_invitation(request, invitation: Invitation, url: str) -> None:
    """E-mail the invitation's link through Django's e-mail backend (the console backend in the
    demo); the backend's errors reach the caller."""
    context = {
        "invitation": invitation,
        "url": url,
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
    invitation = membership.find_invitation(token)
    problem = membership.invitation_problem(invitation)
    if problem:
        status = 404 if invitation is None else 410
        return render(request, "onesend_plugin/invitation.html", {"problem": problem}, status=status)

    email = invitation.email
    existing = membership.existing_user(email)
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

    new_user = get_user_model()(username=email, email=email)
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


def _accepted(request, invitation: Invitation, user):
    """Accept for ``user``: to the admin home if it worked, else the link was used meanwhile."""
    if not membership.accept(invitation, user):
        problem = _("This invitation has already been used. Sign in to the admin instead.")
        return render(request, "onesend_plugin/invitation.html", {"problem": problem}, status=410)
    messages.success(request, _("Welcome to %(account)s.") % {"account": invitation.account})
    return redirect("wagtailadmin_home")


def admin_urls() -> list:
    return [path("messenger/accounts/<int:pk>/members/", MembersView.as_view(), name=URL_NAME)]
