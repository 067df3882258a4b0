"""A deliberately tiny shop: products and the orders customers place for them.

Orders carry the shop's customer reference, the identity onesend can link to a Messenger
subscriber (``Subscriber.customer_ref``).
"""

from decimal import Decimal

from django.db import models
from django.urls import reverse

from onesend_plugin.hooks import plugins
from onesend_plugin.models import Account


def shop_account() -> Account | None:
    """The client account that owns the site: the shop's events are its (with several clients in
    one install, onesend must be told). None when no account owns it: onesend then uses the only one."""
    return Account.objects.filter(sites__is_default_site=True).first()


class Product(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    description = models.TextField(blank=True)
    image = models.ForeignKey(
        "wagtailimages.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("shop:product_detail", args=[self.slug])


class Order(models.Model):
    customer_ref = models.CharField(max_length=100, db_index=True)
    email = models.EmailField(blank=True)
    # A snapshot of what was bought ([{"product": slug, "name", "quantity", "unit_price"}]), so
    # later price or name changes don't rewrite past orders.
    items = models.JSONField(default=list)
    total = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Order {self.pk} ({self.customer_ref})"

    @classmethod
    def place(cls, customer_ref, product, quantity=1, email=""):
        """Create the order for ``quantity`` of ``product`` (the "Buy" button)."""
        return cls.place_items(customer_ref, [(product, quantity)], email=email)

    @classmethod
    def place_items(cls, customer_ref, lines, email=""):
        """Create the order for ``lines`` (``[(product, quantity), ...]``, one currency) and tell
        onesend about it: this one call is all store code needs for revenue attribution and for
        ``order_placed`` flows (e.g. a thank-you message; it also ends cart reminders)."""
        currencies = {product.currency for product, _ in lines}
        if len(currencies) != 1:
            raise ValueError("An order needs at least one item, all in one currency.")
        order = cls.objects.create(
            customer_ref=customer_ref,
            email=email,
            items=[
                {
                    "product": product.slug,
                    "name": product.name,
                    "quantity": quantity,
                    "unit_price": str(product.price),
                }
                for product, quantity in lines
            ],
            total=sum((product.price * quantity for product, quantity in lines), Decimal("0")),
            currency=currencies.pop(),
        )
        plugins.order_placed(
            order_id=f"shop-{order.pk}",
            value=order.total,
            currency=order.currency,
            customer_ref=customer_ref,
            account=shop_account(),
            properties={"items": [item["product"] for item in order.items]},
        )
        return order
