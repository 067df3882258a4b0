"""Bringing in the subscribers Meta already holds for a Page, and keeping their tokens in step.

A business leaving another tool (1send, ManyChat) keeps its people's consent at Meta: the Page's
marketing-message tokens, which Meta lists (``GET {page_id}/notification_message_tokens``, Get
subscription tokens with Marketing Message API for Messenger). An *import* reads that list page
by page and stores each token, with a subscriber whose consent source is "imported from Meta" and
Meta's dates, so nobody is asked to subscribe again. A *reconciliation* (scheduled, see
``queue_reconciliations``) makes the same pass without bringing in anyone new. Both mark the
tokens Meta no longer lists as expired, with the date the list was read.

The rules:

- A pass changes nothing the second time: a token is found by its value and updated, never
  stored twice; a person by their PSID.
- Consent withdrawn here stays withdrawn: an unsubscribed, blocked or unreachable person, or a
  stopped topic, is skipped whatever Meta lists. So is a person erased at their request (their
  erasure record's ``person_key``).
- Each page of Meta's list is stored in one transaction, after all of it was checked
  (``messenger.responses.token_page``): a page Meta sends malformed stops the pass with its error
  and keeps nothing of it; the pages before it stay, and the next pass finds them unchanged.
- A token Meta made by matching the shop's customers to a Custom Audience (it lists it with the
  audience's id, without a PSID: Get subscription tokens) is imported as a subscriber without a
  PSID, reachable by token only, with the consent source "matched from the shop's customers".
  A token without PSID nor audience is skipped.
- Tokens are expired only after a complete list, and only those that existed when it started (an
  opt-in during the pass is not expired); a list with no token at all expires nothing, as that is
  likelier a list Meta does not give (whether it lists legacy tokens is not documented) than a
  Page whose every subscriber left.
- The people a pass imported are shown by name: their Meta profiles are asked next
  (``profiles.ask_missing``), as an opt-in here would have.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_q.tasks import async_task

from .. import conf
from ..messenger.errors import GraphError
from ..messenger.responses import MalformedAnswer, TokenInfo
from ..meta import client_for
from ..models import (
    OPTIN_TITLE_MAX_LENGTH,
    ConsentRecord,
    MarketingToken,
    MessengerPage,
    Subscriber,
    TokenImport,
)
from .erasure import person_key, token_identity

logger = logging.getLogger(__name__)

#: The consent source of an imported subscriber (``ConsentRecord.entry_point``) and their
#: ``source_ref``, so campaigns and reports can tell them apart.
ENTRY_POINT = "imported from Meta"
SOURCE_REF = "meta-import"
#: The same for a subscriber Meta matched from the shop's customers (``store_audience``).
MATCHED_ENTRY_POINT = "matched from the shop's customers"
MATCHED_REF = "store-audience"
#: A pass queued or running for longer is presumed dead (its worker stopped): another may start.
STALE_AFTER = timedelta(hours=1)

#: Why a listed token was not stored or updated (the keys counted in ``TokenImport.skipped``).
SKIP_REASONS = {
    "unsubscribed": _("unsubscribed here: consent they withdrew stays withdrawn"),
    "stopped": _("they stopped this topic here"),
    "blocked": _("they blocked the Page"),
    "unreachable": _("Meta said they cannot be messaged"),
    "rejected": _("Meta rejected the token when we sent to it"),
    "erased": _("erased at their request (GDPR)"),
    "no_psid": _("no PSID and no Custom Audience: Meta did not say whose it is"),
    "other_page": _("the token belongs to another Page here"),
    "other_token": _("another token for the same topic is held"),
    "new": _("new at Meta: a reconciliation imports nobody (press Import)"),
}
GONE = {
    Subscriber.Status.UNSUBSCRIBED: "unsubscribed",
    Subscriber.Status.BLOCKED: "blocked",
    Subscriber.Status.UNREACHABLE: "unreachable",
}
Kind, State = TokenImport.Kind, TokenImport.State


def request(page: MessengerPage, kind: str = Kind.IMPORT, *, by: str = "") -> TokenImport | None:
    """Queue a pass over the Page's tokens at Meta (run by ``tasks.sync_tokens``); None when one
    is already queued or running."""
    open_runs = page.token_imports.filter(state__in=(State.QUEUED, State.RUNNING))
    stale = open_runs.filter(created_at__lt=timezone.now() - STALE_AFTER)
    stale.update(state=State.FAILED, finished_at=timezone.now(), error="Stopped without finishing.")
    if open_runs.exists():
        return None
    run = TokenImport.objects.create(page=page, kind=kind, requested_by=by)
    transaction.on_commit(lambda: async_task("onesend_plugin.tasks.sync_tokens", run.pk))
    return run


def queue_reconciliations() -> int:
    """The scheduled reconciliation (the minute tick): a pass for each Page imported once, every
    ``TOKEN_RECONCILE_HOURS``. Pages never imported are left alone. Returns the passes queued."""
    hours = conf.get("TOKEN_RECONCILE_HOURS")
    if not hours:
        return 0
    recent = TokenImport.objects.filter(created_at__gte=timezone.now() - timedelta(hours=hours))
    pages = (
        MessengerPage.objects.filter(token_imports__state=State.DONE)
        .exclude(pk__in=recent.values("page_id"))
        .distinct()
    )
    return sum(request(page, Kind.RECONCILE, by="schedule") is not None for page in pages)


def run(run_id: int) -> TokenImport:
    """Make the pass (once: a task run twice finds it claimed)."""
    started = timezone.now()
    if not TokenImport.objects.filter(pk=run_id, state=State.QUEUED).update(
        state=State.RUNNING, started_at=started
    ):
        return TokenImport.objects.get(pk=run_id)
    sync = TokenImport.objects.select_related("page").get(pk=run_id)
    page = sync.page
    try:
        for infos in client_for(page).token_pages(page_id=page.page_id):
            with transaction.atomic():
                counts = _store(page, infos, started, sync)
            _add(sync, counts)
        if sync.listed:
            sync.expired = _expire_unlisted(page, started)
        else:
            sync.error = "Meta listed no token: none was marked expired."
        sync.state = State.DONE
    except MalformedAnswer as exc:
        sync.state, sync.error = State.FAILED, f"{exc.message}. {_KEPT}"
    except GraphError as exc:
        sync.state, sync.error = State.FAILED, f"Meta refused the token list: {exc}. {_KEPT}"
    except IntegrityError:
        sync.state, sync.error = State.FAILED, f"Subscribers changed during the pass. {_KEPT}"
    sync.finished_at = timezone.now()
    sync.save()
    if sync.imported:  # people known here by PSID only, so far: their names for the admin
        async_task("onesend_plugin.tasks.ask_profiles", page.pk)
    if sync.state == State.FAILED:
        logger.warning("Token pass %s of %s failed: %s", sync.pk, page, sync.error)
    return sync


_KEPT = "The pages before it are stored, nothing of the failed one; running it again is safe."


def _add(sync: TokenImport, counts: Counter) -> None:
    """Add one page's counts to the pass and save them (the admin shows a long pass advance)."""
    for name in ("listed", "imported", "updated", "unchanged"):
        setattr(sync, name, getattr(sync, name) + counts.pop(name, 0))
    sync.skipped = dict(Counter(sync.skipped) + counts)
    sync.save(update_fields=["listed", "imported", "updated", "unchanged", "skipped"])


def _store(page: MessengerPage, infos: list[TokenInfo], seen_at: datetime, sync: TokenImport) -> Counter:
    """One page of Meta's list, in the caller's transaction: existing tokens updated, new ones
    stored (an import only), the rest counted by reason. Returns the counts."""
    counts = Counter(listed=len(infos))
    known = MarketingToken.objects.select_related("subscriber").in_bulk(
        [info.token for info in infos], field_name="token"
    )
    psids = {info.recipient_id for info in infos if info.recipient_id}
    people = {s.psid: s for s in Subscriber.objects.filter(page=page, psid__in=psids)}
    matched = {token_identity(i.token) for i in infos if not i.recipient_id and i.token not in known}
    erased = _erased(page, (psids - people.keys()) | matched)
    held = set(
        MarketingToken.objects.filter(subscriber__page=page, subscriber__psid__in=psids).values_list(
            "subscriber__psid", "topic"
        )
    )
    changed, new = [], []
    for info in infos:
        token = known.get(info.token)
        if token is not None:
            outcome = _refresh(token, info, page)
            changed += [token] if outcome == "updated" else []
        else:
            outcome = _admit(info, _topic(page, info), people, erased, held, sync.kind)
            new += [info] if outcome == "imported" else []
        counts[outcome] += 1
    MarketingToken.objects.bulk_update(
        changed, ["status", "timezone", "expires_at", "meta_created_at", "meta_status", "unlisted_at"]
    )
    if any(info.recipient_id for info in new):
        _create(page, [info for info in new if info.recipient_id], people, seen_at, sync)
    if any(not info.recipient_id for info in new):
        _create_matched(page, [info for info in new if not info.recipient_id], seen_at, sync)
    listed = MarketingToken.objects.filter(token__in=[info.token for info in infos], subscriber__page=page)
    listed.update(listed_at=seen_at)
    return counts


def _topic(page: MessengerPage, info: TokenInfo) -> str:
    """The token's topic, as ``subscriptions.confirm_optin`` names it."""
    return (info.topic_title or page.optin_title)[:OPTIN_TITLE_MAX_LENGTH]


def _refresh(token: MarketingToken, info: TokenInfo, page: MessengerPage) -> str:
    """A token we hold, as Meta lists it now: "updated", "unchanged" or why it is left alone."""
    if token.subscriber.page_id != page.pk:
        return "other_page"
    if token.subscriber.status in GONE:
        return GONE[token.subscriber.status]
    if token.status == MarketingToken.Status.STOPPED:
        return "stopped"
    if token.status == MarketingToken.Status.INVALID:
        return "rejected"
    fresh = {
        "status": MarketingToken.Status.ACTIVE,
        "unlisted_at": None,
        "timezone": info.timezone or token.timezone,
        "expires_at": info.expires_at or token.expires_at,
        "meta_created_at": info.created_at or token.meta_created_at,
        "meta_status": info.token_status or token.meta_status,
    }
    if all(getattr(token, name) == value for name, value in fresh.items()):
        return "unchanged"
    for name, value in fresh.items():
        setattr(token, name, value)
    return "updated"


def _admit(
    info: TokenInfo, topic: str, people: dict, erased: set[str], held: set[tuple[str, str]], kind: str
) -> str:
    """A token we do not hold: "imported" (``held`` then has its topic) or why not."""
    if not info.recipient_id:
        if not info.custom_audience_ids:
            return "no_psid"
        if token_identity(info.token) in erased:
            return "erased"
        return "imported" if kind == Kind.IMPORT else "new"
    person = people.get(info.recipient_id)
    if person is not None and person.status in GONE:
        return GONE[person.status]
    if info.recipient_id in erased:
        return "erased"
    if (info.recipient_id, topic) in held:
        return "other_token"
    if kind != Kind.IMPORT:
        return "new"
    held.add((info.recipient_id, topic))
    return "imported"


def _erased(page: MessengerPage, psids: set[str]) -> set[str]:
    """Which of ``psids`` (or ``token_identity``s) were erased from the Page (``erasure.person_key``)."""
    keys = {person_key(page.page_id, psid): psid for psid in psids}
    found = ConsentRecord.objects.filter(
        page=page, action=ConsentRecord.Action.ERASED, person_key__in=keys
    ).values_list("person_key", flat=True)
    return {keys[key] for key in found}


def _create(
    page: MessengerPage, infos: list[TokenInfo], people: dict, seen_at: datetime, sync: TokenImport
) -> None:
    """Store imported tokens, their people (new, or offered the opt-in and now subscribed) and
    one consent record per token: Meta's dates, the source, the Page and who asked."""
    opted_in, zones = {}, {}
    for info in infos:
        at = info.created_at or seen_at
        opted_in[info.recipient_id] = min(at, opted_in.get(info.recipient_id, at))
        zones[info.recipient_id] = zones.get(info.recipient_id) or info.timezone or ""
    subscribed = Subscriber.Status.SUBSCRIBED
    Subscriber.objects.bulk_create(
        Subscriber(
            page=page,
            psid=psid,
            status=subscribed,
            opted_in_at=opted_in[psid],
            source_ref=SOURCE_REF,
            timezone=zones[psid],
        )
        for psid in opted_in.keys() - people.keys()
    )
    offered = [psid for psid in opted_in if psid in people]  # offered the opt-in here, or subscribed
    people.update((s.psid, s) for s in Subscriber.objects.filter(page=page, psid__in=opted_in.keys()))
    for psid in offered:
        person = people[psid]
        if person.status != subscribed:
            person.status, person.opted_in_at, person.unsubscribed_at = (
                Subscriber.Status.SUBSCRIBED,
                opted_in[psid],
                None,
            )
            person.source_ref = person.source_ref or SOURCE_REF
            person.save(update_fields=["status", "opted_in_at", "unsubscribed_at", "source_ref"])
    MarketingToken.objects.bulk_create(_token(people[info.recipient_id], info, page) for info in infos)
    ConsentRecord.objects.bulk_create(
        _consent(people[info.recipient_id], info, page, seen_at, sync) for info in infos
    )


def _create_matched(
    page: MessengerPage, infos: list[TokenInfo], seen_at: datetime, sync: TokenImport
) -> None:
    """Store tokens Meta made from a Custom Audience: one subscriber each, without a PSID (Meta
    does not say who it is), subscribed when the list was read, with its token and consent record."""
    people = Subscriber.objects.bulk_create(
        Subscriber(
            page=page,
            psid="",
            status=Subscriber.Status.SUBSCRIBED,
            opted_in_at=seen_at,
            source_ref=MATCHED_REF,
        )
        for _ in infos
    )
    MarketingToken.objects.bulk_create(_token(p, info, page) for p, info in zip(people, infos, strict=True))
    records = [_consent(p, info, page, seen_at, sync) for p, info in zip(people, infos, strict=True)]
    for record, info in zip(records, infos, strict=True):
        record.entry_point, record.ref = MATCHED_ENTRY_POINT, MATCHED_REF
        record.shown["custom_audience_ids"] = list(info.custom_audience_ids)
    ConsentRecord.objects.bulk_create(records)


def _token(person: Subscriber, info: TokenInfo, page: MessengerPage) -> MarketingToken:
    return MarketingToken(
        subscriber=person,
        token=info.token,
        topic=_topic(page, info),
        timezone=info.timezone or "",
        expires_at=info.expires_at,
        meta_created_at=info.created_at,
        meta_status=info.token_status or "",
    )


def _consent(
    person: Subscriber, info: TokenInfo, page: MessengerPage, seen_at: datetime, sync: TokenImport
) -> ConsentRecord:
    """The import as the consent event, dated when the person opted in at Meta (when known)."""
    when = {"created": info.created_at, "expires": info.expires_at}
    return ConsentRecord(
        page=page,
        subscriber=person,
        action=ConsentRecord.Action.OPTED_IN,
        entry_point=ENTRY_POINT,
        ref=SOURCE_REF,
        shown={
            "title": _topic(page, info),
            "page_id": page.page_id,
            "token_status": info.token_status,
            **{f"token_{name}_at": at.isoformat() if at else None for name, at in when.items()},
        },
        detail=f"imported from Meta on {seen_at:%Y-%m-%d %H:%M} UTC (pass {sync.pk}, {sync.requested_by or 'unknown'})",
        at=info.created_at or seen_at,
    )


def _expire_unlisted(page: MessengerPage, started: datetime) -> int:
    """After a complete list: the Page's active tokens it did not have, and that existed when it
    started, are expired with the date it was read."""
    unlisted = MarketingToken.objects.filter(
        Q(listed_at__isnull=True) | Q(listed_at__lt=started),
        subscriber__page=page,
        status=MarketingToken.Status.ACTIVE,
        created_at__lt=started,
    )
    return unlisted.update(status=MarketingToken.Status.EXPIRED, unlisted_at=timezone.now())


def skipped_reasons(sync: TokenImport) -> list[tuple[str, int]]:
    """The pass's skipped tokens as (why, how many), most first, for people to read."""
    counts = sorted((sync.skipped or {}).items(), key=lambda item: -item[1])
    return [(str(SKIP_REASONS.get(reason, reason)), count) for reason, count in counts]
