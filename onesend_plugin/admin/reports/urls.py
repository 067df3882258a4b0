"""The reports' URLs, under ``/admin/messenger/reports/`` in the ``onesend_reports`` namespace."""

from __future__ import annotations

from django.urls import include, path

from .base import NAMESPACE
from .campaign import CampaignReportCSVView, CampaignReportView
from .comparison import CampaignsReportView
from .not_sent import CampaignNotSentView

urlpatterns = [
    path("campaigns/", CampaignsReportView.as_view(), name="campaigns"),
    path("campaigns/results/", CampaignsReportView.as_view(results_only=True), name="campaigns_results"),
    path("campaign/<int:pk>/", CampaignReportView.as_view(), name="campaign"),
    path("campaign/<int:pk>/csv/", CampaignReportCSVView.as_view(), name="campaign_csv"),
    path("campaign/<int:pk>/not-sent/", CampaignNotSentView.as_view(), name="campaign_not_sent"),
]


def admin_urls() -> list:
    """For ``register_admin_urls``: the reports under ``/admin/messenger/reports/``."""
    return [path("messenger/reports/", include((urlpatterns, NAMESPACE), namespace=NAMESPACE))]
