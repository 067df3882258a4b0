"""Admin forms. Secrets (Page access tokens, app secrets) are write-only: the form never
renders the stored value, and leaving the field blank keeps it."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from wagtail.admin.forms import WagtailAdminModelForm


class SecretFieldsForm(WagtailAdminModelForm):
    """Renders ``secret_fields`` as password inputs that never show the stored value."""

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            field = self.fields[name]
            field.widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
            if self.instance.pk and getattr(self.instance, name):
                field.required = False
                field.help_text = _("Stored. Leave blank to keep the current value.")

    def clean(self):
        cleaned = super().clean()
        for name in self.secret_fields:
            if not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)
        return cleaned


class MetaAppForm(SecretFieldsForm):
    secret_fields = ("app_secret",)


class MessengerPageForm(SecretFieldsForm):
    secret_fields = ("access_token",)
