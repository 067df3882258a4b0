"""The session's shopping cart: what the customer put aside, and what onesend hears when they
leave it (``cart_abandoned``, which triggers the "you left something in your cart" flow).

A real shop notices an abandoned cart after some idle time; the demo has a "Leave without
buying" button instead. The cart keeps its id until it is bought, so leaving the same cart again
counts once (onesend's idempotency key is ``cart:<id>``).
"""

import secrets
from dataclasses import dataclass
from decimal import Decimal

from onesend_plugin.hooks import plugins

from .models import Order, Product, shop_account

SESSION_KEY = "shop_cart"
MAX_QUANTITY = 99


class CartError(ValueError):
    """Something the customer can't put in this cart (the message says why)."""


@dataclass(frozen=True)
class Line:
    product: Product
    quantity: int

    @property
    def subtotal(self) -> Decimal:
        return self.product.price * self.quantity


class Cart:
    def __init__(self, session):
        self.session = session
        data = session.get(SESSION_KEY) or {}
        self.id = data.get("id") or f"cart-{secrets.token_hex(6)}"
        self.quantities: dict[str, int] = dict(data.get("items") or {})

    def _save(self) -> None:
        self.session[SESSION_KEY] = {"id": self.id, "items": self.quantities}

    @property
    def lines(self) -> list[Line]:
        products = Product.objects.in_bulk(list(self.quantities), field_name="slug")
        return [Line(products[slug], qty) for slug, qty in self.quantities.items() if slug in products]

    @property
    def total(self) -> Decimal:
        return sum((line.subtotal for line in self.lines), Decimal("0"))

    @property
    def currency(self) -> str:
        lines = self.lines
        return lines[0].product.currency if lines else ""

    def __len__(self) -> int:
        return sum(line.quantity for line in self.lines)

    def add(self, product: Product, quantity: int = 1) -> None:
        if self.currency and product.currency != self.currency:
            raise CartError(f"This cart is in {self.currency}; {product.name} is sold in {product.currency}.")
        self.quantities[product.slug] = min(MAX_QUANTITY, self.quantities.get(product.slug, 0) + quantity)
        self._save()

    def checkout(self, customer_ref: str, email: str = "") -> Order:
        """Buy everything in the cart (onesend hears ``order_placed``); the cart is emptied."""
        order = Order.place_items(customer_ref, [(line.product, line.quantity) for line in self.lines], email)
        self.session.pop(SESSION_KEY, None)
        return order

    def abandon(self, customer_ref: str, url: str = "") -> None:
        """The customer left without buying: tell onesend (the cart stays, for when they return)."""
        lines = self.lines
        if not lines:
            return
        plugins.cart_abandoned(
            cart_id=self.id,
            value=sum((line.subtotal for line in lines), Decimal("0")),
            currency=lines[0].product.currency,
            customer_ref=customer_ref,
            account=shop_account(),
            properties={"items": [line.product.slug for line in lines], "url": url},
        )
        self._save()
