"""People's names and pictures, from their Meta profile, so the admin shows a person rather than a
PSID. Asked once per subscriber, with the Page's token, after they opt in (Meta gives a profile
once the person started the conversation: Meta's Messenger Platform page "User Profile API",
Identity); kept on the subscriber and erased with it (``erasure``). People imported from Meta
(``meta_import``) opted in elsewhere, so their profiles are asked after the import, a Page at a
time (``ask_missing``)."""

from __future__ import annotations

import logging

from django.utils import timezone
from django_q.tasks import async_task

from ..messenger.errors import GraphError
from ..meta import client_for
from ..models import Subscriber

logger = logging.getLogger(__name__)

#: Profiles asked by one task; the rest go to the next (a task must end within the worker's timeout).
PER_TASK = 200


def ask_profile(subscriber_pk: int) -> bool:
    """Ask Meta for the subscriber's name and picture, unless already asked (whatever the answer:
    a person Meta gives no profile of is not asked again). Returns whether a profile was stored."""
    claimed = Subscriber.objects.filter(pk=subscriber_pk, profile_asked_at__isnull=True).update(
        profile_asked_at=timezone.now()
    )
    subscriber = Subscriber.objects.select_related("page").filter(pk=subscriber_pk).first()
    if not claimed or subscriber is None:
        return False
    try:
        profile = client_for(subscriber.page).user_profile(psid=subscriber.psid)
    except GraphError as exc:  # the label (source and date) shows instead
        logger.warning("No Meta profile for subscriber %s: %s", subscriber_pk, exc)
        return False
    Subscriber.objects.filter(pk=subscriber_pk).update(
        first_name=profile.first_name[:255],
        last_name=profile.last_name[:255],
        profile_pic=profile.profile_pic,
    )
    return True


def ask_missing(page_pk: int) -> int:
    """Ask the profiles of the Page's subscribers never asked (those an import brought in), at
    most ``PER_TASK``, and queue the rest as another task. Returns how many were asked."""
    pks = list(
        Subscriber.objects.filter(
            page_id=page_pk, status=Subscriber.Status.SUBSCRIBED, profile_asked_at__isnull=True
        )
        .exclude(psid="")  # a person Meta matched from a Custom Audience: no PSID to ask about
        .order_by("pk")
        .values_list("pk", flat=True)[: PER_TASK + 1]
    )
    for pk in pks[:PER_TASK]:
        ask_profile(pk)
    if len(pks) > PER_TASK:
        async_task("onesend_plugin.tasks.ask_profiles", page_pk)
    return len(pks[:PER_TASK])
