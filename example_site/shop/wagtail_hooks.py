"""Products and orders in the Wagtail admin, under one "Shop" menu."""

from wagtail import hooks
from wagtail.admin.viewsets.model import ModelViewSet, ModelViewSetGroup

from .models import Order, Product


class ProductViewSet(ModelViewSet):
    model = Product
    icon = "tag"
    url_prefix = "shop/products"
    form_fields = ["name", "slug", "price", "currency", "description", "image"]
    list_display = ["name", "price", "currency"]
    search_fields = ["name", "description"]


class OrderViewSet(ModelViewSet):
    model = Order
    icon = "list-ul"
    url_prefix = "shop/orders"
    form_fields = ["customer_ref", "email", "items", "total", "currency"]
    list_display = ["__str__", "customer_ref", "email", "total", "currency", "created_at"]
    list_filter = ["currency"]
    search_fields = ["customer_ref", "email"]
    inspect_view_enabled = True


class ShopViewSetGroup(ModelViewSetGroup):
    menu_label = "Shop"
    menu_icon = "tag"
    menu_order = 260
    items = (ProductViewSet, OrderViewSet)


@hooks.register("register_admin_viewset")
def register_viewsets():
    return ShopViewSetGroup()
