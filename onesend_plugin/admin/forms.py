"""Admin forms. Secrets (Page access tokens, app secrets) are write-only: the form never
renders the stored value, and leaving the field blank keeps it. Campaign content is checked
against Meta's limits before it can be saved."""

from __future__ import annotations

import copy

from django import forms
from django.db.models import F
from django.forms.models import construct_instance
from django.utils.translation import gettext_lazy as _
from wagtail.admin.forms import WagtailAdminModelForm

from .. import broadcast, messages, store
from ..accounts import scoping
from ..broadcast import abtest
from ..models import Account, Campaign, Subscriber
from .editor import CountedTextarea, budget_field, budget_in_minor_units
from .media import check_campaign_media, link_choosers_to_page

AUDIENCE_FIELDS = [
    "page",
    "include_tags",
    "exclude_tags",
    "include_refs",
    "exclude_refs",
    "opted_in_after",
    "opted_in_before",
    "segment",
]


class SecretFieldsForm(WagtailAdminModelForm):
    """Renders ``secret_fields`` as password inputs that never show the stored value."""

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            field = self.fields[name]
            field.widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
            if self.instance.pk and getattr(self.instance, name):
                field.required = False
                field.help_text = _("Stored. Leave blank to keep the current value.")

    def clean(self):
        cleaned = super().clean()
        for name in self.secret_fields:
            if not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)
        return cleaned


def check_quiet_hours(form, cleaned) -> None:
    start, end = cleaned.get("quiet_hours_start"), cleaned.get("quiet_hours_end")
    if (start is None) != (end is None):
        form.add_error("quiet_hours_end" if end is None else "quiet_hours_start", _("Set both or neither."))


class AccountForm(SecretFieldsForm):
    """The events secret stays readable: the shop's developers copy it into their store code.
    Shopify's secret is pasted from Shopify and never shown again. Which Wagtail Sites a client
    owns is the agency's decision (a client admin sees the field, read-only), and a Site has one
    owner at most."""

    secret_fields = ("shopify_secret",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "sites" in self.fields and not scoping.is_agency(self.for_user):
            self.fields["sites"].disabled = True

    def clean(self):
        cleaned = super().clean()
        check_quiet_hours(self, cleaned)
        if not self.fields["sites"].disabled and cleaned.get("sites"):
            taken = Account.objects.filter(sites__in=cleaned["sites"]).exclude(pk=self.instance.pk)
            if owner := taken.first():
                self.add_error("sites", _("Already owned by %(account)s.") % {"account": owner})
        return cleaned


class MetaAppForm(SecretFieldsForm):
    secret_fields = ("app_secret",)


class MessengerPageForm(SecretFieldsForm):
    secret_fields = ("access_token", "paid_access_token")


class CampaignForm(WagtailAdminModelForm):
    """Refuses content Messenger would reject, so a broadcast never fails on its first send.

    ``messages.validate`` is the single source of Meta's limits (the engine checks it again at
    start); this form only maps its errors onto the fields. A button's title length is also a
    field limit, so that error shows on the button itself (and the button is left out here).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "trigger_event" in self.fields:  # the events flows can react to, plugins' included
            choices = [("", _("— none: a one-off broadcast —")), *store.trigger_types()]
            self.fields["trigger_event"].widget = forms.Select(choices=choices)
            self.fields["delay_minutes"].required = False
        if "segment" in self.fields:
            self.offer_segments()
        for name, variant in (("text", ""), ("variant_b_text", "variant_b_")):
            if name in self.fields:
                self.fields[name].widget = CountedTextarea({"data-variant": variant})
                self.fields[name].widget.page_field = self.fields.get("page")
        if "budget" in self.fields:
            self.offer_budget()
        link_choosers_to_page(self)

    def offer_budget(self) -> None:
        """The budget in the ad account's currency units; the model keeps Meta's smallest unit."""
        page = self.instance.page if self.instance.page_id else None
        self.fields["budget"], self.initial["budget"] = budget_field(page, self.instance.budget)
        self.fields["budget"].widget.page_field = self.fields.get("page")

    def offer_segments(self) -> None:
        """The segments plugins offer, as a choice next to the tags and sources ("Everyone":
        none), left out while there is nothing to pick or to say. A segment the campaign uses
        that is no longer offered stays selected (saving never widens the audience silently);
        the audience count says why it can't be sent. Plugins failing to list theirs are named
        in the help text."""
        offered = broadcast.segments.offered()
        choices = [("", _("Everyone")), *offered.choices()]
        if (current := self.instance.segment) and current not in offered.segments:
            choices.append((current, _("%(name)s (not offered now)") % {"name": current}))
        if len(choices) == 1 and not offered.errors:
            del self.fields["segment"]
            return
        help_text = [_("Only the members of a segment a plugin offers. Broadcasts only."), *offered.errors]
        self.fields["segment"] = forms.ChoiceField(
            choices=choices, required=False, label=_("Segment"), help_text=" ".join(map(str, help_text))
        )

    def clean(self):
        cleaned = super().clean()
        if "budget" in self.fields:
            page = cleaned.get("page") or (self.instance.page if self.instance.page_id else None)
            cleaned["budget"] = budget_in_minor_units(self, cleaned.get("budget"), page)
        campaign = construct_instance(self, copy.copy(self.instance))
        for field, error in messages.validate(campaign, self.valid_buttons("buttons")).items():
            self.add_error(field, error)
        if "variant_b_buttons" in self.formsets:
            for field, error in abtest.problems(campaign, self.valid_buttons("variant_b_buttons")).items():
                self.add_error(field, error)
        check_campaign_media(self, campaign, cleaned)
        self.check_schedule(cleaned)
        self.check_conditions(cleaned.get("trigger_conditions"))
        if cleaned.get("segment") and cleaned.get("trigger_event"):
            self.add_error(
                "segment", _("A flow sends to the person its event is about: leave it on Everyone.")
            )
        cleaned["delay_minutes"] = cleaned.get("delay_minutes") or 0
        cleaned["trigger_conditions"] = cleaned.get("trigger_conditions") or []
        return cleaned

    def check_conditions(self, conditions) -> None:
        """Flow conditions: a list of {"property", "op", "value"} with an operator onesend knows."""
        valid = isinstance(conditions, list) and all(
            isinstance(c, dict) and c.get("property") and c.get("op", "=") in store.CONDITIONS
            for c in conditions
        )
        if conditions and not valid:
            ops = ", ".join(store.CONDITIONS)
            self.add_error(
                "trigger_conditions",
                _(
                    'Write a list such as [{"property": "value", "op": ">=", "value": 50}]; operators: %(ops)s.'
                )
                % {"ops": ops},
            )

    def valid_buttons(self, name: str) -> list[tuple[str, str]]:
        """(title, url) of the button forms (of the formset ``name``: A's or B's) that are valid
        and not being deleted. A link that is not a web address (``messages.link_problem``) is an
        error on the button's own field."""
        formset = self.formsets[name]
        formset.is_valid()  # cleans every button form, so cleaned_data exists
        valid = []
        for button in formset.forms:
            if not (button.is_valid() and button.cleaned_data) or button.cleaned_data.get("DELETE"):
                continue
            if problem := messages.link_problem(button.cleaned_data["url"]):
                button.add_error("url", problem)
            else:
                valid.append((button.cleaned_data["title"], button.cleaned_data["url"]))
        return valid

    def check_schedule(self, cleaned) -> None:
        """Settings the engine could only read one way or another: refuse them instead."""
        send_at, expires_at = cleaned.get("send_at"), cleaned.get("expires_at")
        if cleaned.get("schedule") in (Campaign.Schedule.AT, Campaign.Schedule.LOCAL) and not send_at:
            self.add_error("send_at", _("Choose when to send it."))
        if send_at and expires_at and expires_at <= send_at:
            self.add_error("expires_at", _("Must be after the send time."))
        check_quiet_hours(self, cleaned)
        after, before = cleaned.get("opted_in_after"), cleaned.get("opted_in_before")
        if after and before and before <= after:
            self.add_error("opted_in_before", _("Must be after 'opted in after'."))


class CampaignAudienceForm(WagtailAdminModelForm):
    """The audience settings alone, parsed like the edit form parses them (live audience count)."""

    class Meta:
        model = Campaign
        fields = AUDIENCE_FIELDS


class SendTestForm(forms.Form):
    """A test recipient, picked by name (or by where and when they came, ``Subscriber.label``)
    among the Page's most recently active subscribers: a select of every subscriber would be
    endless on a large Page."""

    #: How many recently active subscribers the select offers.
    OFFERED = 50

    subscriber = forms.ModelChoiceField(
        queryset=Subscriber.objects.none(),
        to_field_name="psid",
        label=_("Test recipient"),
        help_text=_("The Page's most recently active subscribers."),
        error_messages={"invalid_choice": _("Choose a subscriber of this Page.")},
    )

    def __init__(self, *args, page, ab_test: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if ab_test:  # which variant of the A/B test to send
            self.fields["variant"] = forms.ChoiceField(
                choices=[("a", _("Variant A")), ("b", _("Variant B"))],
                initial="a",
                widget=forms.RadioSelect,
                label=_("Variant"),
            )
        field = self.fields["subscriber"]
        # Picked by PSID: one Meta matched from the shop's audience has none, so can't be picked.
        field.queryset = page.subscribers.filter(status=Subscriber.Status.SUBSCRIBED).exclude(psid="")
        recent = field.queryset.order_by(F("last_interaction_at").desc(nulls_last=True))[: self.OFFERED]
        field.widget.choices = [("", "---------"), *((person.psid, person.label) for person in recent)]
