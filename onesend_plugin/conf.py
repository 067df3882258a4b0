"""Every onesend setting, with its default, in one place.

Sites override any of them in one dict::

    ONESEND = {"GRAPH_API_BASE_URL": "http://127.0.0.1:8765", "FREQUENCY_CAP_HOURS": 72}

Values are read on each access (not cached at import) so ``override_settings`` works in tests.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

#: The settings that address Meta: production keeps their defaults; anything else is the
#: simulator or a stand-in.
META_URL_SETTINGS = (
    "GRAPH_API_BASE_URL",
    "MME_BASE_URL",
    "OAUTH_DIALOG_BASE_URL",
    "SYSTEM_ACCOUNTS_BASE_URL",
)

DEFAULTS: dict[str, Any] = {
    # Where the Graph API lives. Production keeps the default; the demo and the tests point it
    # at the bundled simulator (``onesend-simulator``).
    "GRAPH_API_BASE_URL": "https://graph.facebook.com",
    "GRAPH_API_VERSION": "v25.0",
    # Where Meta's login dialog lives ("Connect a Facebook Page" sends the browser to
    # ``{OAUTH_DIALOG_BASE_URL}/{GRAPH_API_VERSION}/dialog/oauth``); the simulator serves one too.
    "OAUTH_DIALOG_BASE_URL": "https://www.facebook.com",
    # Base of subscription links; ``https://m.me`` in production, the simulator's ``/m.me`` locally.
    "MME_BASE_URL": "https://m.me",
    # Seconds: (connect, read) timeout for every Graph API call.
    "HTTP_TIMEOUT": (3.05, 20),
    # The pace of each Page's sends, messages per second. Text: 40 by default, Meta's high-volume
    # note ("Messenger Platform rate limits", High-volume messaging: a Page sending more than 40
    # messages per second may be unable to send new messages, and its inbox stops showing them,
    # until the volume drops); at most Meta's Send API limit of 300 calls/s per Page. Media: Meta's
    # 10/s for audio and video; images and files are in neither of Meta's buckets, so they are
    # treated as media to be safe. A system check refuses more than Meta's limits.
    "TEXT_RATE_LIMIT": 40,
    "MEDIA_RATE_LIMIT": 10,
    # Fraction of Meta's limit the sender aims at: the margin absorbs network jitter so that no
    # one-second window at Meta's end ever sees more than the limit.
    "RATE_LIMIT_HEADROOM": 0.97,
    # Shared rate-limiter state: Redis (recommended with several workers or hosts), or the
    # database when unset.
    "RATE_LIMIT_REDIS_URL": None,
    # Hours between reconciliations of a Page's tokens with the list Meta holds (tokens Meta no
    # longer lists are expired); only Pages whose subscribers were imported from Meta once. 0: never.
    "TOKEN_RECONCILE_HOURS": 24,
    # Recipients per Graph batch call (Meta allows at most 50).
    "BATCH_SIZE": 50,
    # A worker that claimed rows and went silent this long is presumed dead: its claimed rows
    # are queued again; rows it was sending become "unknown" (never resent automatically).
    "CLAIM_LEASE_SECONDS": 300,
    # Workers put on a campaign when it starts (one keeps up with Meta's 300/s for a Page).
    "RUNNERS_PER_CAMPAIGN": 1,
    # Sending attempts per recipient for errors that are safe to retry (Meta said it did not send).
    "MAX_ATTEMPTS": 3,
    # Pause a campaign automatically when this share of at least ERROR_RATE_MIN_SAMPLE outcomes
    # failed (e.g. broken content, a policy restriction).
    "ERROR_RATE_PAUSE": 0.25,
    "ERROR_RATE_MIN_SAMPLE": 100,
    # Absolute base URL of the public site, for media and tracked links in messages
    # (defaults to WAGTAILADMIN_BASE_URL).
    "PUBLIC_BASE_URL": None,
    # Our send time is taken when Meta answers, slightly after Meta stamps the message: a read
    # or delivery watermark covers messages sent up to this many seconds after it.
    "RECEIPT_CLOCK_SKEW_SECONDS": 2,
    # Query parameters added to tracked button links (None: add nothing). "{campaign}" is the
    # campaign's slugified name.
    "UTM_PARAMETERS": {"utm_source": "messenger", "utm_medium": "onesend", "utm_campaign": "{campaign}"},
    # An order counts for the campaign whose link the customer last clicked within this many days;
    # failing that, optionally, the last one they read within ATTRIBUTION_READ_DAYS (0: off).
    "ATTRIBUTION_CLICK_DAYS": 7,
    "ATTRIBUTION_READ_DAYS": 0,
    # An unsubscribe counts against the last campaign received within this many days.
    "UNSUBSCRIBE_ATTRIBUTION_DAYS": 7,
    # Our cap across campaigns: one marketing message per subscriber per this many hours. 48 is
    # Meta's cooldown of the legacy marketing-message tokens since 2025-09-01 (Meta answers
    # 4/2018354 inside it); the paid Marketing Messages API's own rule is one message per token
    # per 12 h. An account, then a Page, may override it; a system check warns below the rule
    # of a Page's channel.
    "FREQUENCY_CAP_HOURS": 48,
    # Paid Marketing Messages API: Meta refuses a message to a person who talked with the Page
    # within this many seconds (the person is skipped, ``recipient_unavailable``). None: no gap.
    "PAID_MIN_CONVERSATION_GAP_SECONDS": None,
    # How long one of an A/B test's hours lasts: a demo shortens it to watch a test to its winner.
    "AB_TEST_HOUR_SECONDS": 3600,
    # A paid campaign Meta says is not ready yet (it warms up for about an hour after creation and
    # announces nothing) is tried again after this many seconds, unless Meta says how long to wait.
    "PAID_WARM_UP_RETRY_SECONDS": 300,
    # Meta's insights (spend, delivered, clicks) of a campaign on the paid Marketing Messages API
    # are fetched every this many minutes once it started, and until this many days after it
    # finished or was cancelled (Meta's figures still change a while after the last send).
    "PAID_INSIGHTS_MINUTES": 30,
    "PAID_INSIGHTS_DAYS": 7,
    # Facebook Login for Business configurations (App Dashboard › Facebook Login for Business ›
    # Configurations) that connect a paid Page's ad account, by flow: "business" (Flow 1, business
    # portfolio, system-user token), "asset" (Flow 2, asset based, user token made long-lived),
    # "partner" (Flow 3, Partner Billing: the business's system user sends with the partner's ad
    # account, PARTNER_AD_ACCOUNT_ID). Only configured flows are offered.
    "PAID_LOGIN_CONFIG_IDS": {},
    "PARTNER_AD_ACCOUNT_ID": None,
    # Where Flow 3 connects the partner's ad account (Meta: api.facebook.com, no version).
    "SYSTEM_ACCOUNTS_BASE_URL": "https://api.facebook.com",
    # Webhook bodies larger than this are refused (Meta batches up to 1000 events per POST;
    # Django itself refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB by default).
    "WEBHOOK_MAX_BODY_BYTES": 2 * 1024 * 1024,
    # A stored webhook delivery, or an event whose handler fails, is tried this many times in
    # all, with growing pauses (30 s, 1 min, 2 min…), then kept as failed (``onesend_reprocess``
    # tries it again).
    "WEBHOOK_MAX_ATTEMPTS": 5,
    # Dotted paths of plugin modules or objects to register, besides the ``onesend`` entry points.
    "PLUGINS": [],
    "LOAD_ENTRYPOINTS": True,
    "DISABLED_PLUGINS": [],
}


def get(name: str) -> Any:
    """Return the onesend setting ``name``: the site's value if set, else the default."""
    if name not in DEFAULTS:
        raise KeyError(f"Unknown onesend setting {name!r}")
    return getattr(settings, "ONESEND", {}).get(name, DEFAULTS[name])
