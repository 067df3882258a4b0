"""Who of the shop's customers is in the Page's Custom Audience at Meta (``AudienceMember``, by
hashes), and taking them out again: when they leave the shop's list or withdraw consent (an
upload, ``store_audience``) and when they are erased (``erasure``, through :func:`forget`).
Removal from the audience keeps a person's opt-in since 2026-05-05 (changelog; reference
``meta-paid-marketing-api.md`` §7.1), so to stop their messages they are also unsubscribed with
the Unsubscribe API, by hashed contact (§7.3)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_q.tasks import async_task

from ..messenger import audiences
from ..messenger.errors import GraphError
from ..meta import client_for, paid_client_for
from ..models import AudienceMember, MessengerPage, StoreAudience, Subscriber

logger = logging.getLogger(__name__)


def customer_key(page: MessengerPage, customer_ref: str) -> str:
    """A keyed hash (the site's secret key) of a shop customer on a Page: what the database keeps
    of who was uploaded, so the reference itself is never stored with their hashes."""
    return salted_hmac("onesend.audience", f"{page.page_id}:{customer_ref}", algorithm="sha256").hexdigest()


def remove(
    page: MessengerPage, client, audience: StoreAudience, members: list[AudienceMember], unsubscribe: set[str]
) -> int:
    """Take members out of the audience (they keep their opt-in, changelog 2026-05-05) and
    unsubscribe at Meta those in ``unsubscribe`` (customer keys); their rows are deleted.
    Returns how many left."""
    if not members:
        return 0
    for batch in audiences.batches([m.row for m in members]):
        client.remove_audience_users(audience_id=audience.audience_id, rows=batch)
    for batch in audiences.batches([m.row for m in members if m.customer_key in unsubscribe]):
        client_for(page).unsubscribe_contacts(page_id=page.page_id, rows=batch)
    AudienceMember.objects.filter(pk__in=[m.pk for m in members]).delete()
    return len(members)


def forget(subscriber: Subscriber) -> None:
    """The subscriber is erased: if their shop customer is in the Page's audience, Meta is told
    after commit (``tasks.leave_audience``: out of the audience and unsubscribed), and a
    tombstone keeps them from being uploaded again."""
    if not subscriber.customer_ref:
        return
    page = subscriber.page
    key = customer_key(page, subscriber.customer_ref)
    member, _created = AudienceMember.objects.get_or_create(
        page=page, customer_key=key, defaults={"uploaded_at": timezone.now()}
    )
    if member.erased:
        return
    AudienceMember.objects.filter(pk=member.pk).update(erased=True)
    if member.email_hash or member.phone_hash:
        transaction.on_commit(lambda: async_task("onesend_plugin.tasks.leave_audience", member.pk))


def leave(member_id: int) -> None:
    """An erased customer out of the audience and unsubscribed at Meta, then their hashes
    dropped (the tombstone stays). A failed call is logged: the hashes go all the same."""
    member = AudienceMember.objects.select_related("page").filter(pk=member_id).first()
    if member is None or not (member.email_hash or member.phone_hash):
        return
    page, row = member.page, [member.row]
    try:
        audience = StoreAudience.objects.filter(page=page).first()
        if audience is not None:
            paid_client_for(page).remove_audience_users(audience_id=audience.audience_id, rows=row)
        client_for(page).unsubscribe_contacts(page_id=page.page_id, rows=row)
    except GraphError as exc:
        logger.warning("Telling Meta that a customer of %s was erased failed: %s", page, exc)
    AudienceMember.objects.filter(pk=member.pk).update(email_hash="", phone_hash="")
