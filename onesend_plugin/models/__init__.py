"""The core data model: who owns which Facebook Page, who subscribed, what they consented to,
and every webhook Meta sent us. One module per domain; every name is re-exported here, so code
imports from ``onesend_plugin.models`` and never needs to know which module holds a model.

Invariants that matter for correctness (one PSID per Page, one row per webhook event) are
database constraints, so concurrent workers cannot break them.
"""

from .accounts import (
    OPTIN_TITLE_MAX_LENGTH,
    PAID_TOKEN_WARNING,
    Account,
    Channel,
    Invitation,
    Membership,
    MessengerPage,
    MetaApp,
    OptinCTA,
    PaidLoginFlow,
    _invitation_expiry,  # named by migration 0007
    _new_secret,  # named by migration 0003
)
from .audiences import AudienceMember, AudienceUpload, StoreAudience
from .audit import ScopedLogEntryManager, ScopedModelLogEntry
from .campaigns import (
    BUTTON_TEXT_MAX_LENGTH,
    BUTTON_TITLE_MAX_LENGTH,
    CARD_TITLE_MAX_LENGTH,
    MAX_BUTTONS,
    PAID_TEXT_MAX_LENGTH,
    TEXT_MAX_LENGTH,
    Campaign,
    CampaignButton,
    CampaignStat,
    Click,
    Delivery,
    PaidInsights,
    RateLimitState,
    VariantButton,
)
from .inbox import InboxCount, WebhookDelivery, WebhookEvent
from .store import Conversion, StoreEvent
from .subscribers import (
    STANDARD_WINDOW,
    ConsentRecord,
    MarketingToken,
    Subscriber,
    SubscriberTag,
    SubscriptionLink,
    TokenImport,
)

__all__ = [
    "BUTTON_TEXT_MAX_LENGTH",
    "BUTTON_TITLE_MAX_LENGTH",
    "CARD_TITLE_MAX_LENGTH",
    "MAX_BUTTONS",
    "OPTIN_TITLE_MAX_LENGTH",
    "PAID_TEXT_MAX_LENGTH",
    "PAID_TOKEN_WARNING",
    "STANDARD_WINDOW",
    "TEXT_MAX_LENGTH",
    "Account",
    "AudienceMember",
    "AudienceUpload",
    "Campaign",
    "CampaignButton",
    "CampaignStat",
    "Channel",
    "Click",
    "ConsentRecord",
    "Conversion",
    "Delivery",
    "InboxCount",
    "Invitation",
    "MarketingToken",
    "Membership",
    "MessengerPage",
    "PaidLoginFlow",
    "MetaApp",
    "OptinCTA",
    "PaidInsights",
    "RateLimitState",
    "ScopedLogEntryManager",
    "ScopedModelLogEntry",
    "StoreAudience",
    "StoreEvent",
    "Subscriber",
    "SubscriberTag",
    "SubscriptionLink",
    "TokenImport",
    "VariantButton",
    "WebhookDelivery",
    "WebhookEvent",
    "_invitation_expiry",
    "_new_secret",
]
