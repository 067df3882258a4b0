"""Connecting a paid-channel Page's ad account through Facebook Login for Business, and what its
connection panel asks Meta about it.

Meta's paid Marketing Messages API is called with the business's token from a Facebook Login for
Business configuration (Onboard Businesses with Marketing Message API for Messenger): Flow 1,
business portfolio, a system-user token that never expires; Flow 2, asset based, a user token of
about an hour, exchanged here for the long-lived one (about 60 days); Flow 3, Partner Billing, a
system-user token whose system user is then given the partner's own ad account
(``asset-connections``). The dialog's ``state`` is the Page onboarding's (:mod:`.onboarding`).
"""

from __future__ import annotations

from .. import conf
from ..messenger import login
from ..messenger.client import AdAccount
from ..messenger.errors import GraphError
from ..meta import app_client, client_with
from ..models import MessengerPage, PaidLoginFlow
from .onboarding import OnboardingError


def offered_flows() -> list[PaidLoginFlow]:
    """The flows this install has a configuration for (``PAID_LOGIN_CONFIG_IDS``); Partner Billing
    also needs the partner's ad account (``PARTNER_AD_ACCOUNT_ID``)."""
    configs = conf.get("PAID_LOGIN_CONFIG_IDS") or {}
    return [
        flow
        for flow in PaidLoginFlow
        if configs.get(flow.value) and (flow != PaidLoginFlow.PARTNER or conf.get("PARTNER_AD_ACCOUNT_ID"))
    ]


def dialog_url(page: MessengerPage, flow: str, redirect_uri: str, state: str) -> str:
    """Meta's Login for Business dialog running the flow's configuration for the Page's app."""
    return login.dialog_url(
        conf.get("OAUTH_DIALOG_BASE_URL"),
        conf.get("GRAPH_API_VERSION"),
        app_id=page.app.app_id,
        redirect_uri=redirect_uri,
        state=state,
        config_id=str(conf.get("PAID_LOGIN_CONFIG_IDS")[flow]),
    )


def connect(page: MessengerPage, flow: str, *, code: str, redirect_uri: str, ad_account_id: str) -> AdAccount:
    """Exchange the dialog's code server-side for the flow's token, give Flow 3's system user the
    partner's ad account, read the ad account with the token (proving it may use it, and giving
    its currency), then store both on the Page. Raises :class:`OnboardingError` saying what to do."""
    app = app_client(page.app)
    try:
        token = app.access_token_for_code(redirect_uri=redirect_uri, code=code)
        if flow == PaidLoginFlow.ASSET:  # about an hour: the long-lived one lasts about 60 days
            token = app.long_lived_token(token=token.value)
        business = client_with(token.value, page.app.app_secret)
        if flow == PaidLoginFlow.PARTNER:
            ad_account_id = str(conf.get("PARTNER_AD_ACCOUNT_ID"))
            business.connect_ad_account(
                system_user_id=business.me_id(),
                ad_account_id=ad_account_id,
                base_url=conf.get("SYSTEM_ACCOUNTS_BASE_URL"),
            )
    except GraphError as exc:
        raise OnboardingError(f"Meta refused the login: {exc}") from exc
    try:
        account = business.ad_account(ad_account_id=ad_account_id)
    except GraphError as exc:
        raise OnboardingError(
            f"The token Meta gave cannot use ad account {ad_account_id} ({exc}). Connect again and choose "
            "that ad account in the Facebook dialog."
        ) from exc
    MessengerPage.objects.filter(pk=page.pk).update(
        ad_account_id=f"act_{account.ad_account_id}",
        ad_account_currency=account.currency,
        paid_access_token=token.value,
        paid_token_flow=flow,
        paid_token_expires_at=token.expires_at,
        paid_error={},
    )
    page.refresh_from_db()
    return account
