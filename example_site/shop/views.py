"""Public shop pages. The customer is whoever holds the session: a reference taken from
``?customer=`` (as a shop would after login) or generated on the first visit."""

import secrets

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from .cart import Cart, CartError
from .forms import AddToCartForm, BuyForm, CheckoutForm
from .models import Order, Product

SESSION_KEY = "shop_customer_ref"


def customer_ref(request):
    """The session's customer reference; ``?customer=`` switches to another one."""
    requested = request.GET.get("customer", "").strip()[:100]
    if requested:
        request.session[SESSION_KEY] = requested
    elif SESSION_KEY not in request.session:
        request.session[SESSION_KEY] = f"guest-{secrets.token_hex(4)}"
    return request.session[SESSION_KEY]


def product_list(request):
    return render(
        request,
        "shop/product_list.html",
        {
            "products": Product.objects.all(),
            "customer_ref": customer_ref(request),
            "cart": Cart(request.session),
        },
    )


def product_detail(request, slug):
    product = get_object_or_404(Product, slug=slug)
    return render(
        request,
        "shop/product_detail.html",
        {
            "product": product,
            "form": BuyForm(),
            "cart_form": AddToCartForm(auto_id="cart_%s"),
            "customer_ref": customer_ref(request),
            "cart": Cart(request.session),
        },
    )


@require_POST
def buy(request, slug):
    product = get_object_or_404(Product, slug=slug)
    form = BuyForm(request.POST)
    if not form.is_valid():
        context = {
            "product": product,
            "form": form,
            "cart_form": AddToCartForm(auto_id="cart_%s"),
            "customer_ref": customer_ref(request),
            "cart": Cart(request.session),
        }
        return render(request, "shop/product_detail.html", context, status=400)
    order = Order.place(customer_ref(request), product, **form.cleaned_data)
    return redirect("shop:order_confirmation", pk=order.pk)


@require_POST
def add_to_cart(request, slug):
    product = get_object_or_404(Product, slug=slug)
    form = AddToCartForm(request.POST)
    if form.is_valid():
        try:
            Cart(request.session).add(product, form.cleaned_data["quantity"])
        except CartError as exc:
            messages.error(request, str(exc))
            return redirect(product)
    return redirect("shop:cart")


def cart(request):
    return render(
        request,
        "shop/cart.html",
        {"cart": Cart(request.session), "form": CheckoutForm(), "customer_ref": customer_ref(request)},
    )


@require_POST
def checkout(request):
    basket = Cart(request.session)
    form = CheckoutForm(request.POST)
    if not basket.lines or not form.is_valid():
        context = {"cart": basket, "form": form, "customer_ref": customer_ref(request)}
        return render(request, "shop/cart.html", context, status=400)
    order = basket.checkout(customer_ref(request), form.cleaned_data["email"])
    return redirect("shop:order_confirmation", pk=order.pk)


@require_POST
def leave_cart(request):
    """The demo's stand-in for a customer walking away: onesend hears ``cart_abandoned``."""
    basket = Cart(request.session)
    if basket.lines:
        basket.abandon(customer_ref(request), url=request.build_absolute_uri(reverse("shop:cart")))
        messages.info(
            request,
            f"You left cart {basket.id}. The shop told onesend (cart_abandoned); a subscriber linked "
            f"to {customer_ref(request)} gets the reminder after the flow's delay, unless they buy first.",
        )
    return redirect("shop:product_list")


def order_confirmation(request, pk):
    # Only the customer who placed the order may see it.
    order = get_object_or_404(Order, pk=pk, customer_ref=customer_ref(request))
    return render(request, "shop/order_confirmation.html", {"order": order})
