from django.urls import path

from . import views

app_name = "shop"

urlpatterns = [
    path("", views.product_list, name="product_list"),
    # Before "<slug>/": a product can't be called "cart".
    path("cart/", views.cart, name="cart"),
    path("cart/checkout/", views.checkout, name="checkout"),
    path("cart/leave/", views.leave_cart, name="leave_cart"),
    path("orders/<int:pk>/", views.order_confirmation, name="order_confirmation"),
    path("<slug:slug>/", views.product_detail, name="product_detail"),
    path("<slug:slug>/buy/", views.buy, name="buy"),
    path("<slug:slug>/add/", views.add_to_cart, name="add_to_cart"),
]
