"""GraphClient Page set-up and auth against the real Graph API simulator over HTTP: no mocks, no database.

The bearer token, webhook subscription, token listing, the Get Started button and Facebook Login.
Each test gets a reset simulator with one Page (the ``sim`` and ``graph`` fixtures in conftest)
whose access token the client uses.
"""

from __future__ import annotations

import logging
from contextlib import closing
from datetime import datetime, timezone

import pytest
import requests
from onesend_simulator.remote import SimulatorRemote

from onesend_plugin.messenger.client import BatchRequest, GraphClient, SendResult, TokenInfo
from onesend_plugin.messenger.errors import (
    AuthError,
    BadRequest,
    GraphError,
    RecipientUnavailable,
    TransientError,
)

from .simulated_page import (
    APP_ID,
    OTHER_PAGE_ID,
    OTHER_TOKEN,
    PAGE_ID,
    PAGE_TOKEN,
    TEXT,
    TITLE,
    make_client,
    new_person,
    subscriber,
)


@pytest.fixture
def requests_seen(graph: GraphClient) -> list[requests.PreparedRequest]:
    """Every request ``graph`` made, recorded by a response hook (the real HTTP exchange)."""
    seen: list[requests.PreparedRequest] = []
    graph.session.hooks["response"].append(lambda response, **kwargs: seen.append(response.request))
    return seen


# -- Page set-up and auth ----------------------------------------------------------------------


def test_the_page_is_registered_with_the_given_fields(sim):
    (page,) = sim.pages()
    assert (page["page_id"], page["name"], page["username"]) == (PAGE_ID, "Acme", "acme")
    assert (page["access_token"], page["app_id"]) == (PAGE_TOKEN, APP_ID)


def test_the_token_travels_in_a_bearer_header_never_in_a_url(sim, graph, requests_seen, caplog):
    caplog.set_level(logging.DEBUG, logger="urllib3")
    _, token = subscriber(sim, graph)
    graph.send_to_token(token=token, message=TEXT)
    graph.subscribed_apps(page_id=PAGE_ID)
    list(graph.list_tokens(page_id=PAGE_ID))
    graph.get_token(token=token)
    assert len(requests_seen) == 5
    for request in requests_seen:
        assert request.headers["Authorization"] == f"Bearer {PAGE_TOKEN}"
        assert PAGE_TOKEN not in request.url and "access_token" not in request.url
    assert "/v25.0/me/messages" in caplog.text  # urllib3 logs every URL at DEBUG...
    assert PAGE_TOKEN not in caplog.text  # ...which no longer holds the token


def test_the_batch_call_carries_the_token_as_a_form_field(sim, graph, requests_seen):
    psid = new_person(sim)
    (result,) = graph.batch([BatchRequest.send(recipient={"id": psid}, message=TEXT)])
    assert isinstance(result, SendResult)
    (request,) = requests_seen
    assert "Authorization" not in request.headers
    assert PAGE_TOKEN not in request.url
    assert f"access_token={PAGE_TOKEN}" in request.body


def test_a_wrong_access_token_is_an_auth_error(sim):
    psid = new_person(sim)
    with closing(make_client(sim, "EAA-not-a-page-token")) as client:
        with pytest.raises(AuthError) as caught:
            client.send_to_psid(psid=psid, message=TEXT)
        assert (caught.value.code, caught.value.http_status) == (190, 400)
        with pytest.raises(AuthError):
            client.subscribed_apps(page_id=PAGE_ID)
        # The simulator fails each batch item on its own; Meta may reject the whole call (it then raises).
        (item,) = client.batch([BatchRequest.send(recipient={"id": psid}, message=TEXT)])
        assert isinstance(item, AuthError) and item.code == 190
    assert sim.messages() == []


def test_another_pages_id_in_the_path_is_a_bad_request(sim, graph):
    sim.create_page(page_id=OTHER_PAGE_ID, access_token=OTHER_TOKEN)
    with pytest.raises(BadRequest) as caught:
        graph.subscribed_apps(page_id=OTHER_PAGE_ID)
    assert (caught.value.code, caught.value.subcode) == (100, 33)


# -- webhook subscription ----------------------------------------------------------------------


def test_subscribe_list_and_unsubscribe_the_app(sim, graph):
    (app,) = graph.subscribed_apps(page_id=PAGE_ID)
    assert app["id"] == APP_ID and "messaging_optins" in app["subscribed_fields"]

    fields = ["messages", "messaging_optins", "message_deliveries", "message_echoes"]
    graph.subscribe_app(page_id=PAGE_ID, fields=fields)
    assert graph.subscribed_apps(page_id=PAGE_ID) == [
        {"id": APP_ID, "name": "onesend", "subscribed_fields": fields}
    ]
    assert sim.pages()[0]["subscribed_fields"] == fields

    graph.unsubscribe_app(page_id=PAGE_ID)
    assert graph.subscribed_apps(page_id=PAGE_ID) == []
    with pytest.raises(BadRequest):
        graph.subscribe_app(page_id=PAGE_ID, fields=["no_such_field"])


# -- token listing -----------------------------------------------------------------------------


@pytest.mark.parametrize("count, limit, calls", [(5, 2, 3), (4, 2, 2), (3, 100, 1), (0, 2, 1)])
def test_list_tokens_pages_through_every_token(sim, graph, requests_seen, count, limit, calls):
    expected = [subscriber(sim, graph) for _ in range(count)]
    requests_seen.clear()
    tokens = list(graph.list_tokens(page_id=PAGE_ID, limit=limit))
    assert [(t.recipient_id, t.token) for t in tokens] == expected
    assert len(requests_seen) == calls
    assert all(t.topic_title == TITLE and t.token_status == "NOT_REFRESHED" for t in tokens)
    assert all(isinstance(t.created_at, datetime) and t.timezone == "UTC" for t in tokens)


def test_list_tokens_is_lazy(sim, graph, requests_seen):
    first_psid, _ = subscriber(sim, graph)
    subscriber(sim, graph)
    requests_seen.clear()
    assert next(graph.list_tokens(page_id=PAGE_ID, limit=1)).recipient_id == first_psid
    assert len(requests_seen) == 1


def test_get_token(sim, graph):
    sim.configure(followup_limit=0, cooldown_seconds=48 * 3600)
    psid, token = subscriber(sim, graph)
    before = graph.get_token(token=token)
    assert isinstance(before, TokenInfo)
    assert (before.token, before.recipient_id, before.topic_title) == (token, psid, TITLE)
    assert before.next_eligible_at == before.created_at  # eligible right away

    graph.send_to_token(token=token, message=TEXT)
    after = graph.get_token(token=token)
    sent_at = sim.person(psid)["last_marketing_at"] / 1000
    expected = datetime.fromtimestamp(int(sent_at + 48 * 3600), tz=timezone.utc)
    assert after.next_eligible_at == expected
    with pytest.raises(RecipientUnavailable) as caught:
        graph.get_token(token="404")
    assert caught.value.reason == "invalid_token"


# -- Messenger Profile: the Get Started button -------------------------------------------------------


def test_the_get_started_button_is_read_set_and_kept(sim, graph):
    """Messenger Profile API: ``GET me/messenger_profile?fields=get_started`` answers ``{"data": []}``
    for a Page without the button; setting it makes a new person's link click reach the app."""
    sim.create_page(page_id=OTHER_PAGE_ID, access_token=OTHER_TOKEN)
    with closing(make_client(sim, OTHER_TOKEN)) as other:
        assert other.get_started() is None
        psid = sim.create_person(OTHER_PAGE_ID)["psid"]
        assert sim.open_link(psid, ref="summer") == {"webhooks": []}  # Meta tells the app nothing
        other.set_get_started()
        assert other.get_started() == "GET_STARTED"
    [event] = sim.get_started(psid)["webhooks"]  # the person taps it on the welcome screen
    assert event["postback"]["referral"] == {"ref": "summer", "source": "SHORTLINK", "type": "OPEN_THREAD"}
    assert graph.get_started() == "GET_STARTED"


# -- Facebook Login: connecting Pages ----------------------------------------------------------------


def test_login_calls_exchange_list_pages_and_check_tokens(sim: SimulatorRemote):
    sim.configure(app_secret="login-secret")
    sim.create_page(page_id=OTHER_PAGE_ID, name="Other", access_token=OTHER_TOKEN)
    owner = sim.create_user(name="Owner", page_ids=[PAGE_ID, OTHER_PAGE_ID])["user_id"]
    redirect = "https://site.example/callback/"
    dialog = requests.post(
        f"{sim.base_url}/v25.0/dialog/oauth",
        params={"client_id": APP_ID, "redirect_uri": redirect, "scope": "pages_show_list,pages_messaging"},
        data={
            "user": owner,
            "action": "continue",
            "page": [PAGE_ID, OTHER_PAGE_ID],
            "permission": "pages_messaging",
        },
        allow_redirects=False,
    )
    code = dialog.headers["Location"].rsplit("code=", 1)[1]
    app = make_client(sim, f"{APP_ID}|login-secret")

    with pytest.raises(BadRequest) as wrong_uri:
        app.exchange_code(redirect_uri="https://elsewhere.example/", code=code)
    assert wrong_uri.value.subcode == 36008
    user_token = app.exchange_code(redirect_uri=redirect, code=code)
    with pytest.raises(BadRequest) as used:
        app.exchange_code(redirect_uri=redirect, code=code)
    assert used.value.subcode == 36009

    user = make_client(sim, user_token)
    pages = user.managed_pages(limit=1)  # two pages of answers, followed by cursor
    assert [(p.page_id, p.name, p.access_token) for p in pages] == [
        (PAGE_ID, "Acme", PAGE_TOKEN),
        (OTHER_PAGE_ID, "Other", OTHER_TOKEN),
    ]
    assert "MESSAGING" in pages[0].tasks and PAGE_TOKEN not in repr(pages[0])
    assert user.permissions() == {"pages_messaging": "granted", "pages_show_list": "declined"}

    check = app.debug_token(input_token=PAGE_TOKEN)
    assert check.is_valid and check.scopes == {"pages_messaging"} and check.profile_id == PAGE_ID
    sim.revoke_token(PAGE_TOKEN)
    dead = app.debug_token(input_token=PAGE_TOKEN)
    assert not dead.is_valid and "session has been invalidated" in dead.error
    with pytest.raises(AuthError) as revoked:
        make_client(sim).subscribed_apps(page_id=PAGE_ID)
    assert (revoked.value.code, revoked.value.subcode) == (190, 460)


def test_the_app_secret_never_shows_in_errors(sim: SimulatorRemote):
    app = make_client(sim, f"{APP_ID}|very-secret-value")
    with pytest.raises(GraphError) as refused:
        app.exchange_code(redirect_uri="https://site.example/callback/", code="forged")
    assert "very-secret-value" not in str(refused.value)
    offline = GraphClient(f"{APP_ID}|very-secret-value", base_url="http://127.0.0.1:9", timeout=(1, 1))
    with pytest.raises(TransientError) as unreachable:
        offline.exchange_code(redirect_uri="https://site.example/callback/", code="c")
    assert "very-secret-value" not in str(unreachable.value)
