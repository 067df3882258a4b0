"""Which channel reaches one person for one send, or why none does: the decision of a Page that
sends per person (``Channel.PER_PERSON``). Pure: it reads no database and calls nobody, so the
confirm step's split, the freezing of the audience and the sender decide alike.

The order is the cheapest that Meta allows (reference ``meta-paid-marketing-api.md`` §1, §6, §9):

1. a **standard message**, free, when the person wrote to the Page in the last 24 h;
2. the **legacy token** (Send API), free, where the business's region still allows it;
3. the **paid token** (Marketing Messages API), paid per delivered message, when the Page has its
   paid channel set up and Meta serves the person's region;
4. else nobody: the person is skipped with the reason.

Where Meta is ambiguous, the choice fails safe:

* Meta's FAQ keeps legacy tokens "for partners and businesses ... in the AU, EU, JP, KR, and UK
  geos" without saying whether "geo" is the business's or the person's (§9). Legacy is chosen
  when the *business* is in one of them (the account's, or the Page's, ``business_country``):
  a business elsewhere cannot use it whoever the person is, and a business there keeps its free
  channel. An unknown business country allows no legacy token: a refused legacy send is an
  error, while a person skipped for "no channel" is explained on the confirm step.
* Meta excludes people in the EU, JP, KR, AU and the UK from paid messages (§1) but tells us no
  one's region. The person's ``notification_messages_timezone`` (their opt-in) is the documented
  hint: a zone of an excluded region skips them without a paid call. An unknown zone (UTC, none,
  elsewhere) is tried: Meta refuses 2300032 at no cost, the row is skipped ``recipient_region``
  and the person remembered (``Subscriber.paid_region_refused_at``), so the next campaign skips
  them without asking Meta again.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Channel

#: The European Union's member states (ISO 3166-1 alpha-2).
EU = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split())
#: Meta's five "geos": where legacy tokens still work after 2026-02-10 (Marketing Messages FAQ,
#: reference §9), and the recipient regions the paid API excludes (every Marketing Messages page,
#: reference §1). The same set, by Meta's own words.
META_GEOS = EU | {"AU", "GB", "JP", "KR"}

#: The IANA zones of those regions (the system's zone.tab, with their older link names), so a
#: person's opt-in timezone says they are there. A zone missing here costs one refused paid call.
_EXCLUDED_ZONES = {
    "Europe/Vienna": "AT", "Europe/Brussels": "BE", "Europe/Sofia": "BG", "Europe/Zagreb": "HR",
    "Asia/Nicosia": "CY", "Asia/Famagusta": "CY", "Europe/Nicosia": "CY", "Europe/Prague": "CZ",
    "Europe/Berlin": "DE", "Europe/Busingen": "DE", "Europe/Copenhagen": "DK", "Europe/Tallinn": "EE",
    "Europe/Madrid": "ES", "Africa/Ceuta": "ES", "Atlantic/Canary": "ES", "Europe/Helsinki": "FI",
    "Europe/Mariehamn": "FI", "Europe/Paris": "FR", "Europe/Athens": "GR", "Europe/Budapest": "HU",
    "Europe/Dublin": "IE", "Eire": "IE", "Europe/Rome": "IT", "Europe/Vilnius": "LT",
    "Europe/Luxembourg": "LU", "Europe/Riga": "LV", "Europe/Malta": "MT", "Europe/Amsterdam": "NL",
    "Europe/Warsaw": "PL", "Poland": "PL", "Europe/Lisbon": "PT", "Atlantic/Madeira": "PT",
    "Atlantic/Azores": "PT", "Portugal": "PT", "Europe/Bucharest": "RO", "Europe/Stockholm": "SE",
    "Europe/Ljubljana": "SI", "Europe/Bratislava": "SK", "Europe/London": "GB", "Europe/Belfast": "GB",
    "GB": "GB", "GB-Eire": "GB", "Asia/Tokyo": "JP", "Japan": "JP", "Asia/Seoul": "KR", "ROK": "KR",
    "Antarctica/Macquarie": "AU",
}  # fmt: skip


def excluded_region(timezone: str) -> str:
    """The excluded region (ISO code) a person's IANA timezone is in; empty when it says none
    (``UTC``, unknown, or a zone elsewhere)."""
    if timezone.startswith("Australia/"):
        return "AU"
    return _EXCLUDED_ZONES.get(timezone, "")


def legacy_allowed(business_country: str) -> bool:
    """Whether legacy tokens still work for a business in this country (see the module's note)."""
    return business_country.upper() in META_GEOS


@dataclass(frozen=True)
class Options:
    """What the Page can use for this send: legacy tokens (its business's region) and the paid
    API (set up, and for a campaign, its message campaign created at Meta)."""

    legacy: bool
    paid: bool


@dataclass(frozen=True)
class Person:
    """What the decision needs to know of one person."""

    in_window: bool
    has_token: bool
    timezone: str = ""
    region_refused: bool = False  # Meta refused them a paid message for their region (2300032)

    @property
    def paid_reaches(self) -> bool:
        return not self.region_refused and not excluded_region(self.timezone)


@dataclass(frozen=True)
class Route:
    """A channel (``Channel``), or none and the reason (worded by ``analytics.reasons``)."""

    channel: str = ""
    reason: str = ""


def route(person: Person, options: Options) -> Route:
    """The channel that reaches ``person`` now, in the module's order, or why none does."""
    if person.in_window:
        return Route(Channel.STANDARD)
    if not person.has_token:
        return Route(reason="no_token")
    if options.legacy:
        return Route(Channel.MARKETING_TOKEN)
    if not options.paid:
        return Route(reason="no_channel")
    if not person.paid_reaches:
        return Route(reason="recipient_region")
    return Route(Channel.MARKETING_API)
