"""The shop's customers as Meta subscribers: an upload of those who accepted marketing to the
Page's Marketing Messages Custom Audience, and Meta's tokens for the people it matched (Grow
your Audience for Marketing Message API for Messenger; reference ``meta-paid-marketing-api.md``
§7.1 for the audience and upload, §5.2 for the status webhook, §7.3 for the Unsubscribe API).

The rules:

- Who is uploaded: the customers the store integration gives (the ``store_customers`` hook),
  one per ``customer_ref`` (the first), who accepted marketing and gave a valid e-mail or phone.
  A customer linked to a subscriber of the Page who unsubscribed, blocked it or became
  unreachable is not uploaded again; nor is an erased one (their tombstone).
- Rows that cannot be uploaded (no e-mail nor phone, a malformed e-mail or phone) are counted
  by reason on the upload, for the admin, and never sent.
- A contact leaves the process only hashed (``messenger.audiences.hashed_row``); the database
  keeps only the hashes Meta was sent and a keyed hash of the shop's reference.
- The rows go in batches of at most 10 000 (Meta's limit), one CFCA ``session`` per upload.
- A customer uploaded before and no longer given is taken out of the audience (``DELETE
  /users``: since 2026-05-05 they keep their opt-in); one who no longer accepts marketing is
  also unsubscribed at Meta (Unsubscribe API, by hashed contact). An erased customer is both,
  right away (``audience_members.forget``).
- Meta matches asynchronously (up to 24 h) and says so with one status webhook per batch; when
  every batch is reported, the Page's tokens are imported (``meta_import``): the matched people
  become subscribers without a PSID.

The audience calls take the business's system-user token (``meta.paid_client_for``), so a Page
needs its paid channel's ad account and token; the Unsubscribe API takes the Page token.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_q.tasks import async_task

from ..hooks import PluginError, StoreCustomer, plugins
from ..messenger import audiences
from ..messenger.audience_events import UploadStatusEvent
from ..messenger.errors import GraphError
from ..meta import paid_client_for
from ..models import AudienceMember, AudienceUpload, MessengerPage, StoreAudience, Subscriber
from . import audience_members, meta_import

logger = logging.getLogger(__name__)
State = AudienceUpload.State

#: Why a customer was not uploaded (the keys of ``AudienceUpload.invalid``), for people to read.
REASONS = {
    audiences.NO_CONTACT: _("no e-mail and no phone"),
    audiences.BAD_EMAIL: _("an e-mail that is not one"),
    audiences.BAD_PHONE: _("a phone without country code, or too short or long"),
    "unsubscribed": _("unsubscribed from the Page here"),
    "erased": _("erased at their request (GDPR)"),
}
GONE = (Subscriber.Status.UNSUBSCRIBED, Subscriber.Status.BLOCKED, Subscriber.Status.UNREACHABLE)


def refusal(page: MessengerPage) -> str:
    """Why the Page cannot upload customers ("" if it can): the audience calls need an ad
    account and the business's system-user token (reference §2.1)."""
    if not page.ad_account_id or not page.paid_access_token:
        return str(_("Connect the Page's ad account (paid channel) first: Meta's audiences belong to one."))
    return ""


def request(page: MessengerPage, *, by: str = "") -> AudienceUpload | None:
    """Queue an upload (run by ``tasks.upload_audience``); None when one is queued or running.
    One open for longer than ``meta_import.STALE_AFTER`` is presumed dead (its worker stopped)."""
    open_uploads = page.audience_uploads.filter(state__in=(State.QUEUED, State.RUNNING))
    stale = open_uploads.filter(created_at__lt=timezone.now() - meta_import.STALE_AFTER)
    stale.update(state=State.FAILED, error="Stopped without finishing.")
    if open_uploads.exists():
        return None
    upload = AudienceUpload.objects.create(page=page, requested_by=by)
    transaction.on_commit(lambda: async_task("onesend_plugin.tasks.upload_audience", upload.pk))
    return upload


@dataclass
class Plan:
    """What an upload sends: rows by customer key, and what it leaves out and why."""

    rows: dict[str, list[str]] = field(default_factory=dict)
    invalid: Counter = field(default_factory=Counter)
    no_consent: set[str] = field(default_factory=set)  # keys of customers without consent
    customers: int = 0


def run(upload_id: int) -> AudienceUpload:
    """Make the upload (once: a task run twice finds it claimed)."""
    started = timezone.now()
    if not AudienceUpload.objects.filter(pk=upload_id, state=State.QUEUED).update(
        state=State.RUNNING, started_at=started
    ):
        return AudienceUpload.objects.get(pk=upload_id)
    upload = AudienceUpload.objects.select_related("page", "page__account").get(pk=upload_id)
    page = upload.page
    try:
        plan = _plan(page, _customers(page))
        upload.customers, upload.no_consent = plan.customers, len(plan.no_consent)
        upload.invalid = dict(plan.invalid)
        client = paid_client_for(page)
        audience = _audience(page, client)
        if plan.rows:
            _send(client, audience, plan.rows, upload)
        _remember(page, plan.rows, started)
        leaving = page.audience_members.filter(erased=False).exclude(customer_key__in=plan.rows)
        upload.removed = audience_members.remove(page, client, audience, list(leaving), plan.no_consent)
        upload.state = State.MATCHING if upload.batches else State.DONE
        upload.uploaded_at = timezone.now()
    except PluginError as exc:
        upload.state, upload.error = State.FAILED, f"The shop's customers could not be read: {exc}"
    except GraphError as exc:
        upload.state, upload.error = State.FAILED, f"Meta refused the upload: {exc}"
    upload.save()
    if upload.state == State.FAILED:
        logger.warning("Audience upload %s of %s failed: %s", upload.pk, page, upload.error)
    return upload


def _customers(page: MessengerPage) -> list[StoreCustomer]:
    """The shop's customers of the Page's account, every plugin's lists joined; a plugin that
    returns anything but a list of ``StoreCustomer`` fails the upload (``PluginError``)."""
    found = plugins.call_contained("store_customers", account=page.account, check=_check_customers)
    return [customer for customers in found for customer in customers]


def _check_customers(result: object) -> None:
    if not isinstance(result, list) or not all(isinstance(c, StoreCustomer) for c in result):
        raise TypeError("store_customers must return a list of onesend_plugin.hooks.StoreCustomer")


def _plan(page: MessengerPage, customers: list[StoreCustomer]) -> Plan:
    """Each customer once: hashed into a row, or counted with why not."""
    plan, seen = Plan(), set()
    refs = [c.customer_ref for c in customers]
    gone = set(
        Subscriber.objects.filter(page=page, customer_ref__in=refs, status__in=GONE).values_list(
            "customer_ref", flat=True
        )
    )
    erased = set(page.audience_members.filter(erased=True).values_list("customer_key", flat=True))
    for customer in customers:
        if customer.customer_ref in seen:
            continue
        seen.add(customer.customer_ref)
        key = audience_members.customer_key(page, customer.customer_ref)
        if not customer.accepts_marketing:
            plan.no_consent.add(key)
            continue
        row = audiences.hashed_row(customer.email, customer.phone, customer.first_name, customer.last_name)
        reason = "erased" if key in erased else "unsubscribed" if customer.customer_ref in gone else row
        if isinstance(reason, str):
            plan.invalid[reason] += 1
        else:
            plan.rows[key] = row
    plan.customers = len(seen)
    return plan


def _audience(page: MessengerPage, client) -> StoreAudience:
    """The Page's audience at Meta, made with its ad account at the first upload (and again if
    the Page changed ad account)."""
    audience = StoreAudience.objects.filter(page=page).first()
    if audience is not None and audience.ad_account_id == page.ad_account_id:
        return audience
    audience_id = client.create_custom_audience(
        ad_account_id=page.ad_account_id,
        page_id=page.page_id,
        name=f"{page.name}: shop customers"[:200],
        description="Customers who accepted marketing, uploaded by onesend",
    )
    StoreAudience.objects.filter(page=page).delete()
    page.audience_members.filter(erased=False).delete()  # they were the old audience's
    return StoreAudience.objects.create(page=page, audience_id=audience_id, ad_account_id=page.ad_account_id)


def _send(client, audience: StoreAudience, rows: dict[str, list[str]], upload: AudienceUpload) -> None:
    """Every row in batches of at most ``MAX_ROWS``, one session; progress saved per batch."""
    batches = audiences.batches(list(rows.values()))
    session = audiences.Session.new(len(rows))
    upload.session_id = str(session.session_id)
    for seq, batch in enumerate(batches, start=1):
        result = client.add_audience_users(
            audience_id=audience.audience_id, rows=batch, session=session.of_batch(seq, seq == len(batches))
        )
        upload.uploaded += len(batch)
        upload.batches += 1
        upload.meta_invalid += result.invalid
        upload.save(update_fields=["session_id", "uploaded", "batches", "meta_invalid"])


def _remember(page: MessengerPage, rows: dict[str, list[str]], at) -> None:
    """Who is in the audience now, by hashes: new members added, the others' hashes updated."""
    known = {m.customer_key: m for m in page.audience_members.filter(customer_key__in=rows)}
    new, changed = [], []
    for key, row in rows.items():
        email, phone = audiences.kept_hashes(row)
        member = known.get(key)
        if member is None:
            new.append(
                AudienceMember(
                    page=page, customer_key=key, email_hash=email, phone_hash=phone, uploaded_at=at
                )
            )
        else:
            member.email_hash, member.phone_hash, member.uploaded_at = email, phone, at
            changed.append(member)
    AudienceMember.objects.bulk_create(new, batch_size=1000)
    AudienceMember.objects.bulk_update(changed, ["email_hash", "phone_hash", "uploaded_at"], batch_size=1000)


def record_status(page: MessengerPage, event: UploadStatusEvent) -> None:
    """Meta reported a batch of the Page's upload matched (§5.2): its counts are added to the
    latest upload waiting for them; once every batch is reported, the Page's tokens are imported
    (the matched people become subscribers). Another audience's report is only logged."""
    audience = StoreAudience.objects.filter(page=page, audience_id=event.audience_id).first()
    upload = page.audience_uploads.filter(state=State.MATCHING).order_by("-created_at", "-id").first()
    if audience is None or upload is None:
        logger.info("Upload status of audience %s for %s: not an upload of ours", event.audience_id, page)
        return
    upload.statuses += 1
    upload.matched_low += event.matched_low
    upload.matched_high += event.matched_high
    if event.status and event.status != "SUCCESS":
        upload.error = f"Meta reported a batch as {event.status}."
    if upload.statuses >= upload.batches:
        upload.state, upload.matched_at = State.DONE, timezone.now()
        transaction.on_commit(lambda: _import_matches(page, upload))
    upload.save()


def _import_matches(page: MessengerPage, upload: AudienceUpload) -> None:
    """Import the Page's tokens now that Meta matched; if a pass is already under way (it may
    have listed the tokens before they existed), say so on the upload."""
    if meta_import.request(page, by="store audience upload") is None:
        AudienceUpload.objects.filter(pk=upload.pk).update(
            error="An import from Meta was already under way: press “Import existing subscribers "
            "from Meta” once it is done to bring in the people Meta matched."
        )


def invalid_reasons(upload: AudienceUpload) -> list[tuple[str, int]]:
    """The upload's rows not sent, as (why, how many), most first, for people to read."""
    counts = sorted((upload.invalid or {}).items(), key=lambda item: -item[1])
    return [(str(REASONS.get(reason, reason)), count) for reason, count in counts]
