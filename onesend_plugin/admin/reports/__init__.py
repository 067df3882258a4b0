"""Campaign reports: one campaign's funnel, hourly reads and clicks and clicks per button
(``campaign``), and a comparison of all campaigns, a Wagtail report with CSV/XLSX export
(``comparison``). Their numbers are computed by :mod:`onesend_plugin.analytics.reports`.

Every number is read from the maintained counters (``CampaignStat``), never by counting ledger
rows, so a report costs the same few queries for a hundred recipients or a million.

Only users who may view campaigns (``onesend.view_campaign``, or superusers) see the reports, their
menu item and their exports; everyone else gets Wagtail's permission-denied behaviour.
"""
