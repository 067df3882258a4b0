"""Who one campaign did not reach (yet), person by person, and when they can be messaged again:
the rows behind its report's "Not sent" counts. The one report page that reads the ledger, so it
lists at most ``analytics.not_sent.LIMIT`` people."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from ...accounts import scoping
from ...analytics.not_sent import LIMIT, not_sent
from ...models import Campaign
from .base import CSS, NAMESPACE, CampaignReportPermissionMixin, comparison_crumb


class CampaignNotSentView(CampaignReportPermissionMixin, WagtailAdminTemplateMixin, TemplateView):
    """Skipped, failed, unknown and held-back people of one campaign, with the reason and the time
    they can be messaged again (Meta's 12 h rule, our frequency cap) or are queued until."""

    template_name = "onesend_plugin/reports/not_sent.html"
    page_title = _("Not sent")
    header_icon = "mail"

    def get(self, request, *args, **kwargs):
        self.object = scoping.get_or_404(Campaign.objects.select_related("page"), kwargs["pk"], request.user)
        return super().get(request, *args, **kwargs)

    def get_page_title(self):
        return _("Not sent: %(campaign)s") % {"campaign": self.object.name}

    def get_breadcrumbs_items(self):
        report = reverse(f"{NAMESPACE}:campaign", args=[self.object.pk])
        return self.breadcrumbs_items + [
            comparison_crumb(),
            {"url": report, "label": self.object.name},
            {"url": "", "label": self.page_title},
        ]

    def get_context_data(self, **kwargs):
        people = not_sent(self.object)
        return super().get_context_data(
            **kwargs, campaign=self.object, people=people, limited=len(people) == LIMIT, limit=LIMIT, css=CSS
        )
