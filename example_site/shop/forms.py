from django import forms


class BuyForm(forms.Form):
    quantity = forms.IntegerField(min_value=1, max_value=99, initial=1)
    email = forms.EmailField(required=False, help_text="For the receipt (optional).")


class AddToCartForm(forms.Form):
    quantity = forms.IntegerField(min_value=1, max_value=99, initial=1)


class CheckoutForm(forms.Form):
    email = forms.EmailField(required=False, help_text="For the receipt (optional).")
