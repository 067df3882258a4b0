"""System checks: misconfigurations that would otherwise fail silently at send time."""

from __future__ import annotations

import math
from datetime import timedelta
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError

from . import conf
from .broadcast import channels, runner
from .broadcast.channels import below_meta_rule

# Q_CLUSTER keys that select a broker; without any of them django-q2 silently uses Redis.
BROKER_KEYS = ("orm", "redis", "django_redis", "broker_class", "sqs", "iron_mq", "mongo", "disque")


@register()
def check_task_queue(app_configs=None, **kwargs) -> list:
    errors = []
    if not apps.is_installed("django_q"):
        errors.append(
            Error(
                "onesend needs django-q2, but 'django_q' is not in INSTALLED_APPS.",
                hint="Add 'django_q' to INSTALLED_APPS and run migrate.",
                id="onesend.E001",
            )
        )
    cluster = getattr(settings, "Q_CLUSTER", None) or {}
    if not cluster.get("sync") and not any(cluster.get(key) for key in BROKER_KEYS):
        errors.append(
            Error(
                "Q_CLUSTER names no broker, so django-q2 silently falls back to Redis on localhost.",
                hint='Set Q_CLUSTER["orm"] = "default" for the database broker, or Q_CLUSTER["redis"] explicitly.',
                id="onesend.E002",
            )
        )
    timeout, retry = cluster.get("timeout"), cluster.get("retry", 60)
    if timeout is None or retry <= timeout:
        errors.append(
            Error(
                f"Q_CLUSTER retry ({retry}) must be greater than timeout ({timeout}); otherwise the broker "
                "hands a running task to a second worker and messages can go out twice.",
                hint='Set e.g. Q_CLUSTER["timeout"] = 90 and Q_CLUSTER["retry"] = 180.',
                id="onesend.E003",
            )
        )
    elif not cluster.get("sync"):
        errors += _turn_warnings(timeout)
    return errors


def _turn_warnings(timeout: float) -> list:
    """A task timeout too short for a campaign worker's turn: django-q2 would stop workers in the
    middle of a batch, whose messages then count as unknown, never sent again."""
    batch, shortest = runner.longest_batch(), runner.timeout_for_turn()
    if timeout >= shortest:
        return []
    return [
        Warning(
            f"Q_CLUSTER timeout ({timeout} s) is too short for a campaign's workers: a batch can take "
            f"{batch:g} s once started (a rate-limiter wait and two Graph API calls at HTTP_TIMEOUT), "
            "and a worker stopped at the timeout in the middle of one leaves its messages unknown.",
            hint=f'Set Q_CLUSTER["timeout"] to at least {math.ceil(shortest)} (e.g. 90, with retry 180), '
            'or lower ONESEND["HTTP_TIMEOUT"].',
            id="onesend.W011",
        )
    ]


@register()
def check_settings(app_configs=None, **kwargs) -> list:
    errors = []
    unknown = set(getattr(settings, "ONESEND", {})) - set(conf.DEFAULTS)
    if unknown:
        errors.append(Error(f"Unknown ONESEND setting(s): {', '.join(sorted(unknown))}.", id="onesend.E006"))
    for name in conf.META_URL_SETTINGS:
        if urlsplit(str(conf.get(name))).scheme not in ("http", "https"):
            errors.append(Error(f'ONESEND["{name}"] must be an http(s) URL.', id="onesend.E007"))
    errors += _pace_errors()
    legacy = channels.TokenChannel.meta_cooldown  # the channel of a new Page
    if timedelta(hours=conf.get("FREQUENCY_CAP_HOURS")) < legacy:
        errors.append(
            Warning(
                f"FREQUENCY_CAP_HOURS is below Meta's cooldown of {_hours(legacy)} h for marketing-message "
                "tokens (the channel of new Pages); Meta will refuse the extra messages (4/2018354).",
                hint="Leave the default (48), or set a lower cap only on Pages of the paid Marketing "
                "Messages API channel (Meta's rule there: 12 h).",
                id="onesend.W001",
            )
        )
    return errors


#: Meta's per-Page Send API limits, calls per second ("Messenger Platform rate limits"): 300 for
#: text, links, reactions and stickers; 10 for audio and video.
META_RATE_LIMITS = {"TEXT_RATE_LIMIT": 300, "MEDIA_RATE_LIMIT": 10}


def _pace_errors() -> list:
    """A pace above Meta's limit has every extra send refused (613) and the Page held."""
    errors = []
    for name, limit in META_RATE_LIMITS.items():
        value = conf.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= limit:
            errors.append(
                Error(
                    f'ONESEND["{name}"] must be a number above 0 and at most Meta\'s {limit} per second.',
                    id="onesend.E008",
                )
            )
    return errors


@register()
def check_plugins(app_configs=None, **kwargs) -> list:
    from .hooks import plugins

    return [
        Error(f"A onesend plugin failed to load: {message}", id="onesend.E005")
        for message in plugins.load_errors
    ]


@register()
def check_segments(app_configs=None, **kwargs) -> list:
    """A segment name offered twice, or a plugin failing to list its segments, leaves segments
    out of the campaign editor: say so before an editor wonders where they went."""
    from .broadcast import segments

    return [
        Warning(f"A onesend segment is not offered: {message}", id="onesend.W002")
        for message in segments.offered().errors
    ]


@register(Tags.database)
def check_page_caps(app_configs=None, databases=None, **kwargs) -> list:
    """A Page whose frequency cap (its own, its account's or the site's) is shorter than Meta's
    rule for its channel: every message sent inside Meta's rule would be refused."""
    if not databases:
        return []
    from .models import MessengerPage

    try:
        pages = [page for page in MessengerPage.objects.select_related("account") if below_meta_rule(page)]
    except DatabaseError:  # tables not migrated yet
        return []
    return [
        Warning(
            f"Page {page.name} ({page.page_id}) caps marketing messages at {_hours(page.cooldown)} h "
            f"({_cap_source(page)}), below Meta's {_hours(channels.meta_rule(page))} h "
            f"for its channel ({page.get_channel_display()}); Meta will refuse the extra messages.",
            hint="Raise the Page's frequency cap, or its account's, or FREQUENCY_CAP_HOURS.",
            obj=page,
            id="onesend.W003",
        )
        for page in pages
    ]


@register(Tags.database)
def check_paid_tokens(app_configs=None, databases=None, **kwargs) -> list:
    """A paid Page whose Flow 2 token (about 60 days: Onboard Businesses with Marketing Message
    API for Messenger) expires within a week or has expired: Meta then refuses every paid call,
    so its campaigns stop until the ad account is connected again."""
    if not databases:
        return []
    from django.utils import timezone

    from .models import PAID_TOKEN_WARNING, Channel, MessengerPage

    try:
        pages = list(
            MessengerPage.objects.filter(
                channel=Channel.MARKETING_API,
                paid_token_expires_at__lt=timezone.now() + PAID_TOKEN_WARNING,
            ).exclude(paid_access_token="")
        )
    except DatabaseError:  # tables not migrated yet
        return []
    return [
        Warning(
            f"Page {page.name} ({page.page_id}): its paid-channel token "
            f"{'has expired' if page.paid_token_left() <= timedelta(0) else 'expires'} on "
            f"{page.paid_token_expires_at:%Y-%m-%d %H:%M} UTC; Meta then refuses its paid messages.",
            hint='Reconnect the ad account: the Page\'s connection panel, "Connect the ad account".',
            obj=page,
            id="onesend.W004",
        )
        for page in pages
    ]


@register(Tags.database)
def check_per_person_countries(app_configs=None, databases=None, **kwargs) -> list:
    """A per-person Page whose business country is set neither on it nor on its account: routing
    can't tell whether Meta still takes its legacy tokens (only for the AU, EU, JP, KR and UK
    geos since 2026-02-10: reference meta-paid-marketing-api.md, legacy marketing messages), so
    it uses none. Its token holders outside their 24 h window then go paid, or are skipped
    (``no_channel``) when the Page has no ad account."""
    if not databases:
        return []
    from .models import Channel, MessengerPage

    try:
        pages = [
            page
            for page in MessengerPage.objects.filter(channel=Channel.PER_PERSON).select_related("account")
            if not page.country
        ]
    except DatabaseError:  # tables not migrated yet
        return []
    return [
        Warning(
            f"Page {page.name} ({page.page_id}) sends per person, but neither it nor its account "
            f"says where the business is: no legacy token is used, so its token holders outside "
            f"their 24 h window are {'sent a paid message' if page.sends_paid else 'skipped (no_channel)'}.",
            hint="Set the Business country of the Page's account (Messenger › Accounts), or of the Page.",
            obj=page,
            id="onesend.W010",
        )
        for page in pages
    ]


def _cap_source(page) -> str:
    if page.frequency_cap_hours:
        return "set on the Page"
    if page.account.frequency_cap_hours is not None:
        return "set on its account"
    return "FREQUENCY_CAP_HOURS"


def _hours(duration: timedelta) -> str:
    return f"{duration.total_seconds() / 3600:g}"


@register(Tags.database)
def check_meta_apps(app_configs=None, databases=None, **kwargs) -> list:
    """Webhooks of an app without a secret can't be verified, so they'd all be refused."""
    if not databases:
        return []
    from .models import MetaApp

    try:
        incomplete = list(MetaApp.objects.filter(app_secret="") | MetaApp.objects.filter(verify_token=""))
    except DatabaseError:  # tables not migrated yet
        return []
    return [
        Error(
            f"Meta app {app.app_id} has no app secret or no verify token; its webhooks will be refused.",
            hint="Set both in the Wagtail admin (Messenger › Meta apps).",
            obj=app,
            id="onesend.E004",
        )
        for app in incomplete
    ]
