from django.urls import path

from . import views

app_name = "shop"

urlpatterns = [
    path("", views.product_list, name="product_list"),
    path("orders/<int:pk>/", views.order_confirmation, name="order_confirmation"),
    path("<slug:slug>/", views.product_detail, name="product_detail"),
    path("<slug:slug>/buy/", views.buy, name="buy"),
]
