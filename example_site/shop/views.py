"""Public shop pages. The customer is whoever holds the session: a reference taken from
``?customer=`` (as a shop would after login) or generated on the first visit."""

import secrets

from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from .forms import BuyForm
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
        {"products": Product.objects.all(), "customer_ref": customer_ref(request)},
    )


def product_detail(request, slug):
    product = get_object_or_404(Product, slug=slug)
    return render(
        request,
        "shop/product_detail.html",
        {"product": product, "form": BuyForm(), "customer_ref": customer_ref(request)},
    )


@require_POST
def buy(request, slug):
    product = get_object_or_404(Product, slug=slug)
    form = BuyForm(request.POST)
    if not form.is_valid():
        context = {"product": product, "form": form, "customer_ref": customer_ref(request)}
        return render(request, "shop/product_detail.html", context, status=400)
    order = Order.place(customer_ref(request), product, **form.cleaned_data)
    return redirect("shop:order_confirmation", pk=order.pk)


def order_confirmation(request, pk):
    # Only the customer who placed the order may see it.
    order = get_object_or_404(Order, pk=pk, customer_ref=customer_ref(request))
    return render(request, "shop/order_confirmation.html", {"order": order})
