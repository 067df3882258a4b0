"""Amounts as Meta's ad accounts count them: budgets and costs travel as integers in the account
currency's smallest unit (Send Messages on Marketing Message API for Messenger, ``daily_budget``:
"in the account's smallest currency unit (cents)"). How many of those make one unit is the
currency's *offset* in Meta's Marketing API "Currency Codes" table: 100 for most currencies, 1 for
those listed below (it follows Meta, not ISO 4217: HUF, IDR, TWD and COP have cents in ISO 4217 but
offset 1 at Meta). An unknown or empty currency is treated as offset 100."""

from __future__ import annotations

from decimal import Decimal

#: Marketing API, Currency Codes (Updated Apr 16 2024): the currencies of offset 1.
OFFSET_ONE = frozenset({"CLP", "COP", "CRC", "HUF", "IDR", "ISK", "JPY", "KRW", "PYG", "TWD", "VND"})


def decimals(currency: str) -> int:
    """Decimal places an amount of ``currency`` may have at Meta: 0 (offset 1) or 2 (offset 100)."""
    return 0 if currency.upper() in OFFSET_ONE else 2


def to_minor(amount: Decimal, currency: str) -> int:
    """``amount`` units (25.00 USD, 3000 JPY) as Meta's integer (2500, 3000). Raises
    ``ValueError`` when it has more decimal places than the currency allows."""
    minor = amount.scaleb(decimals(currency))
    if minor != minor.to_integral_value():
        raise ValueError(f"{amount} has more than {decimals(currency)} decimal places")
    return int(minor)


def from_minor(minor: int, currency: str) -> Decimal:
    """Meta's integer as units of the currency, with its decimal places (2500 → 25.00 USD)."""
    places = decimals(currency)
    return Decimal(minor).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def label(minor: int, currency: str) -> str:
    """An amount as the admin shows it: ``25.00 USD``, ``3000 JPY``, or ``25.00`` without a
    currency (an account whose currency is not known yet)."""
    return f"{from_minor(minor, currency)} {currency.upper()}".rstrip()
