"""The paid channel's rows of a Page's connection panel: its ad account, region and eligibility,
payment method, Terms, the ``marketing_message_*`` webhook fields and Meta's last paid-API
error. What each of Meta's account errors asks of a person is said once, in
:data:`onesend_plugin.messenger.errors.PAID_ADVICE` (the sender pauses a Page with the same
words), and shown here instead of the code."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..accounts.onboarding import PAID_WEBHOOK_FIELDS
from ..messenger.errors import PAID_ADVICE, PAID_TOKEN_ADVICE, REGION_ERRORS, TERMS_ERRORS, paid_advice
from ..models import PAID_TOKEN_WARNING, MessengerPage

#: The one advice for an ad account Meta reports as not active (Ad Account reference, ``account_status``).
INACTIVE_ADVICE = _("Resolve it in Meta Ads Manager (Account quality), then re-check.")


def rows(page: MessengerPage) -> list[dict]:
    """The paid rows (none for a Page on another channel); ``ok`` as in the health panel."""
    if not page.sends_paid:
        return []
    paid = (page.health or {}).get("paid") or {}
    error = page.paid_error or {}
    if not page.paid_access_token:
        return [{"label": _("Ad account"), "ok": False, "text": PAID_TOKEN_ADVICE}, _error_row(error)]
    account = paid.get("ad_account")
    if not account:
        text = paid.get("error") or _("Not checked yet: press Re-check.")
        return [
            _token_row(page, paid),
            {"label": _("Ad account"), "ok": None, "text": text},
            _error_row(error),
        ]
    return [
        _token_row(page, paid),
        _account_row(account),
        _region_row(account, error),
        _payment_row(account, error),
        _terms_row(error),
        _webhooks_row(page),
        _error_row(error),
    ]


def _token_row(page: MessengerPage, paid: dict) -> dict:
    if paid.get("token_valid") is False:
        text = _("Meta no longer accepts it (%(error)s): connect the ad account again.") % {
            "error": paid.get("error")
        }
        return {"label": _("Paid-channel token"), "ok": False, "text": text}
    flow = page.get_paid_token_flow_display() or _("entered by hand")
    expires, left = page.paid_token_expires_at, page.paid_token_left()
    if left is None:  # Flow 1 and 3 system-user tokens: "Expiration: Never"
        return {"label": _("Paid-channel token"), "ok": True, "text": f"{flow}, {_('never expires')}"}
    date = date_format(expires)
    if left <= timedelta(0):  # Meta refuses it now: no campaign of the Page starts
        when = _("expired on %(date)s — reconnect the ad account") % {"date": date}
    elif left < PAID_TOKEN_WARNING:
        when = ngettext(
            "expires in %(days)d day — reconnect the ad account (%(date)s)",
            "expires in %(days)d days — reconnect the ad account (%(date)s)",
            left.days,
        ) % {"days": left.days, "date": date}
    else:
        when = _("expires on %(date)s") % {"date": date}
    return {"label": _("Paid-channel token"), "ok": left >= PAID_TOKEN_WARNING, "text": f"{flow}, {when}"}


def _account_row(account: dict) -> dict:
    text = f"{account['name']} ({account['id']}), {account['currency']}"
    if not account["active"]:
        text += f": {account['status']}. {INACTIVE_ADVICE}"
    return {"label": _("Ad account"), "ok": account["active"], "text": text}


def _region_row(account: dict, error: dict) -> dict:
    """Where Meta's business regions are checked: the ad account's country, else Meta's refusal."""
    code = error.get("code")
    if code in REGION_ERRORS:
        return {"label": _("Region"), "ok": False, "text": paid_advice(code)}
    supported = account.get("region_supported")
    if supported is False:
        return {"label": _("Region"), "ok": False, "text": f"{account['country']}: {PAID_ADVICE[2300030]}"}
    text = _("%(country)s: Meta offers paid marketing messages there.") % {"country": account["country"]}
    return {
        "label": _("Region"),
        "ok": True if supported else None,
        "text": text if supported else _("Meta does not say where the business is."),
    }


def _payment_row(account: dict, error: dict) -> dict:
    method = account.get("payment_method")
    if error.get("code") == 2300011 or not method:
        return {"label": _("Payment method"), "ok": False, "text": PAID_ADVICE[2300011]}
    return {"label": _("Payment method"), "ok": True, "text": method}


def _terms_row(error: dict) -> dict:
    """Meta offers no way to ask whether the Marketing Messages terms are accepted: only its
    refusal (2300013, 2300019, 2300066, 2300067, 2300069) tells. It is shown until Meta next
    creates a message campaign for the Page, or the ad account is connected again."""
    code = error.get("code")
    if code in TERMS_ERRORS:
        return {"label": _("Marketing Messages terms"), "ok": False, "text": paid_advice(code)}
    return {"label": _("Marketing Messages terms"), "ok": None, "text": _("Meta has not refused them.")}


def _webhooks_row(page: MessengerPage) -> dict:
    missing = [
        name for name in (page.health or {}).get("fields_missing") or () if name in PAID_WEBHOOK_FIELDS
    ]
    text = _("Missing: %(names)s") % {"names": ", ".join(missing)} if missing else _("Yes")
    return {"label": _("Paid receipts subscribed"), "ok": not missing, "text": text}


def _error_row(error: dict) -> dict:
    if not error:
        return {"label": _("Last paid-API error"), "ok": True, "text": _("None")}
    at = parse_datetime(error.get("at") or "")
    text = paid_advice(error.get("code")) or error.get("message") or ""
    if isinstance(at, datetime):
        text = _("%(when)s ago: %(text)s") % {"when": timesince(at, timezone.now()), "text": text}
    return {"label": _("Last paid-API error"), "ok": False, "text": text}
