"""Edit-form panels that show more than fields."""

from __future__ import annotations

from django.urls import reverse
from wagtail.admin.panels import Panel

from .. import broadcast


class AudienceCountPanel(Panel):
    """How many subscribers the campaign would reach now. The count is for the saved campaign;
    ``campaign-audience.js`` refreshes it from the audience endpoint as the editor changes the
    audience fields, before anything is saved."""

    class BoundPanel(Panel.BoundPanel):
        template_name = "onesend_plugin/admin/panels/audience_count.html"

        class Media:
            css = {"all": ["onesend_plugin/css/campaign-admin.css"]}
            js = ["onesend_plugin/js/campaign-audience.js"]

        def get_context_data(self, parent_context=None):
            context = super().get_context_data(parent_context)
            campaign = self.instance
            viewset = type(campaign).snippet_viewset
            args = [campaign.pk] if campaign.pk else []
            context["url"] = reverse(viewset.get_url_name("audience"), args=args)
            context["count"], context["error"] = broadcast.count(campaign) if campaign.page_id else (None, "")
            return context
