"""The campaign editor's live helpers: a character counter under the text, with the limit of the
chosen Page's channel (or of an image card's title, or of a text with buttons), the media fields
that match "Attach" (only the chosen one shows), and the budget entered in the Page's ad account
currency.

What each Page allows is rendered into the form (``data-onesend-pages``) by the widgets below,
from the page field's choices at render time (the user's Pages only), so
``campaign-editor.js`` can follow the Page select without asking the server. The server-side
checks stay in ``messages.validate`` and the form: the counter only shows them early.
"""

from __future__ import annotations

import json
from decimal import Decimal

from django import forms
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .. import messages
from ..messenger import currency
from ..models import BUTTON_TEXT_MAX_LENGTH, CARD_TITLE_MAX_LENGTH, MessengerPage

EDITOR_MEDIA = forms.Media(
    css={"all": ["onesend_plugin/css/campaign-admin.css"]}, js=["onesend_plugin/js/campaign-editor.js"]
)


def page_facts(pages) -> dict[str, dict]:
    """Page pk → what the editor shows for it: its text limit and its ad account currency."""
    return {
        str(page.pk): {"text_limit": messages.text_limit(page), "currency": page.ad_account_currency}
        for page in pages.only("pk", "channel", "ad_account_id", "ad_account_currency")
    }


class PageAwareMixin:
    """A widget told the form's page field, whose choices it renders as ``data-onesend-pages``."""

    page_field: forms.ModelChoiceField | None = None

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        if self.page_field is not None:
            facts = json.dumps(page_facts(self.page_field.queryset))
            context["widget"]["attrs"]["data-onesend-pages"] = facts
        return context


class CountedTextarea(PageAwareMixin, forms.Textarea):
    """The message text, with ``used / limit`` under it (``data-card-limit``: with an image the
    text is the card's title; ``data-button-limit``: with buttons, the button template's text)."""

    def __init__(self, attrs=None):
        super().__init__(
            {
                "data-onesend-counted": "",
                "data-card-limit": CARD_TITLE_MAX_LENGTH,
                "data-button-limit": BUTTON_TEXT_MAX_LENGTH,
                **(attrs or {}),
            }
        )

    @property
    def media(self):
        return EDITOR_MEDIA


class BudgetInput(PageAwareMixin, forms.NumberInput):
    """An amount in the chosen Page's ad account currency, its code shown after the input."""

    def __init__(self, attrs=None):
        super().__init__({"data-onesend-budget": "", "step": "any", **(attrs or {})})

    def render(self, name, value, attrs=None, renderer=None):
        field = super().render(name, value, attrs, renderer)
        return format_html('{} <span class="onesend-currency" data-onesend-currency></span>', field)

    @property
    def media(self):
        return EDITOR_MEDIA


def budget_field(page: MessengerPage | None, budget: int | None) -> tuple[forms.DecimalField, Decimal | None]:
    """The form field for ``Campaign.budget`` in currency units, and its initial value (the stored
    value is in Meta's smallest unit: cents, or yen)."""
    code = page.ad_account_currency if page else ""
    field = forms.DecimalField(
        required=False,
        min_value=Decimal(0),
        label=_("Budget"),
        widget=BudgetInput(),
        help_text=_(
            "Pages on the paid Marketing Messages API: what Meta may spend, in the ad account's currency "
            "(e.g. 25.00). Empty: no budget is sent and Meta sets its own daily cap."
        ),
    )
    return field, None if budget is None else currency.from_minor(budget, code)


def budget_in_minor_units(form, amount: Decimal | None, page: MessengerPage | None) -> int | None:
    """The amount entered as Meta's integer in the Page's currency; an error on the field when
    the currency has no such fraction or the amount is not above 0."""
    if amount is None:
        return None
    code = page.ad_account_currency if page else ""
    try:
        minor = currency.to_minor(amount, code)
    except ValueError:
        places = currency.decimals(code)
        form.add_error(
            "budget",
            _("%(currency)s amounts have %(places)s decimal places.")
            % {"currency": code or _("The ad account's"), "places": places},
        )
        return None
    if minor <= 0:
        form.add_error("budget", _("Give an amount above 0, or leave it empty for no budget."))
        return None
    return minor
