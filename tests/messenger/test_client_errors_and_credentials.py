"""GraphClient error handling and credentials, against a fake ``requests`` transport.

How Graph errors, non-Graph answers and network failures are raised, and that the token travels
only as a bearer header (with its appsecret_proof) and never leaks into errors, URLs or logs.
These are the rare paths that are hard to provoke against the real simulator.
"""

import hashlib
import hmac
import json
import logging

import pytest
import requests

from onesend_plugin.messenger.client import BatchRequest, GraphClient
from onesend_plugin.messenger.errors import (
    AuthError,
    BadRequest,
    OptinAlreadyRequested,
    RateLimited,
    TransientError,
)
from onesend_plugin.messenger.http import appsecret_proof

from .graph_fake import BASE, BUC, PSID, TOKEN

# -- failures ----------------------------------------------------------------------------------


def test_graph_errors_are_raised_with_usage(client, transport):
    body = {"error": {"message": "rate", "type": "OAuthException", "code": 613, "fbtrace_id": "F"}}
    transport.reply(body, status=400, headers={"X-Business-Use-Case-Usage": BUC})
    with pytest.raises(RateLimited) as caught:
        client.send_to_token(token="T", message={"text": "x"})
    assert caught.value.retry_after == 120
    assert caught.value.http_status == 400


def test_an_error_body_with_status_200_is_still_an_error(client, transport):
    transport.reply({"error": {"message": "dup", "code": 613, "error_subcode": 1893016}})
    with pytest.raises(OptinAlreadyRequested):
        client.send_optin_request(psid=PSID, title="t", payload="p")


@pytest.mark.parametrize(
    "status, body, cls",
    [
        (502, b"<html>Bad gateway</html>", TransientError),
        (200, b"<html>hi</html>", TransientError),
        (404, b"", BadRequest),
    ],
)
def test_non_graph_answers(client, transport, status, body, cls):
    transport.reply(body, status=status)
    with pytest.raises(cls):
        client.subscribed_apps(page_id="111")


@pytest.mark.parametrize(
    "exc",
    [
        requests.ConnectionError(f"Max retries exceeded with url: /v99.0/me/messages?access_token={TOKEN}"),
        requests.ReadTimeout(
            f"Read timed out. (url=https://graph.test/v99.0/me/messages?access_token={TOKEN})"
        ),
        requests.exceptions.ChunkedEncodingError("Connection broken"),
    ],
    ids=["connection", "timeout", "chunked"],
)
def test_network_errors_are_transient_and_never_leak_the_token(client, transport, exc):
    transport.fail(exc)
    with pytest.raises(TransientError) as caught:
        client.send_to_psid(psid=PSID, message={"text": "x"})
    error = caught.value
    assert error.code is None
    assert type(exc).__name__ in str(error)
    assert TOKEN not in str(error) and TOKEN not in repr(error)
    assert error.__cause__ is None and error.__suppress_context__  # no traceback shows the original URL


def test_the_token_never_appears_in_errors_even_if_meta_echoes_it(client, transport):
    echoed = {"error": {"message": f"Malformed access token {TOKEN}", "code": 190, "fbtrace_id": TOKEN}}
    transport.reply(echoed, status=400)
    with pytest.raises(AuthError) as caught:
        client.subscribed_apps(page_id="111")
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)
    assert "[access_token]" in str(caught.value)


EVERY_CALL = {
    "send_message": lambda c: c.send_message(recipient={"id": PSID}, sender_action="typing_on"),
    "send_to_psid": lambda c: c.send_to_psid(psid=PSID, message={"text": "x"}),
    "send_to_token": lambda c: c.send_to_token(token="T", message={"text": "x"}),
    "send_optin_request": lambda c: c.send_optin_request(psid=PSID, title="t", payload="p"),
    "upload_attachment": lambda c: c.upload_attachment(page_id="111", attachment_type="image", url="u"),
    "subscribe_app": lambda c: c.subscribe_app(page_id="111", fields=["messages"]),
    "subscribed_apps": lambda c: c.subscribed_apps(page_id="111"),
    "unsubscribe_app": lambda c: c.unsubscribe_app(page_id="111"),
    "list_tokens": lambda c: list(c.list_tokens(page_id="111")),
    "get_token": lambda c: c.get_token(token="T"),
    "create_marketing_campaign": lambda c: c.create_marketing_campaign(
        ad_account_id="42", name="S", page_id="111", daily_budget=1
    ),
    "send_marketing_message": lambda c: c.send_marketing_message(
        ad_account_id="42", message_id="M", subscription_token="S", message={"text": "x"}
    ),
}


@pytest.mark.parametrize("call", EVERY_CALL.values(), ids=EVERY_CALL.keys())
def test_every_call_but_batch_sends_the_token_as_a_bearer_header_only(client, transport, call):
    transport.reply({"message_id": "m", "attachment_id": "a", "id": "c", "data": []})
    call(client)
    request = transport.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in request.url and "access_token" not in request.url
    body = request.body or b""
    assert TOKEN not in (body.decode() if isinstance(body, bytes) else body)


def test_the_bearer_header_is_not_replaced_by_netrc_credentials(client, transport, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine graph.test login someone password secret\n")
    monkeypatch.setenv("NETRC", str(netrc))
    transport.reply({"data": []})
    client.subscribed_apps(page_id="111")
    assert transport.authorization == f"Bearer {TOKEN}"
    transport.reply([None])
    client.batch([BatchRequest.send(recipient={"id": PSID}, message={"text": "x"})])
    assert transport.authorization is None


def test_the_header_belongs_to_each_client_not_to_a_shared_session(transport):
    session = requests.Session()
    session.mount(BASE, transport)
    first, second = (GraphClient(token, base_url=BASE, session=session) for token in ("TOKEN-1", "TOKEN-2"))
    for client, token in ((first, "TOKEN-1"), (second, "TOKEN-2"), (first, "TOKEN-1")):
        transport.reply({"data": []})
        client.subscribed_apps(page_id="111")
        assert transport.authorization == f"Bearer {token}"
    assert "Authorization" not in session.headers and session.auth is None


def test_the_token_is_not_in_repr_or_logs(client, transport, caplog):
    caplog.set_level(logging.DEBUG, logger="onesend_plugin")
    transport.reply({"message_id": "m"})
    client.send_to_psid(psid=PSID, message={"text": "x"})
    assert "POST /v99.0/me/messages -> HTTP 200" in caplog.text
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(client)


# -- appsecret_proof ---------------------------------------------------------------------------


@pytest.fixture
def proving_client(transport):
    session = requests.Session()
    session.mount(BASE, transport)
    return GraphClient(TOKEN, base_url=BASE, version="v99.0", session=session, app_secret="app-secret")


def test_the_proof_is_metas_hmac_of_the_token():
    expected = hmac.new(b"app-secret", TOKEN.encode(), hashlib.sha256).hexdigest()
    assert appsecret_proof(TOKEN, "app-secret") == expected and len(expected) == 64


@pytest.mark.parametrize("call", EVERY_CALL.values(), ids=EVERY_CALL.keys())
def test_every_call_with_a_token_carries_its_appsecret_proof(proving_client, transport, call):
    transport.reply({"message_id": "m", "attachment_id": "a", "id": "c", "data": []})
    call(proving_client)
    assert transport.query["appsecret_proof"] == appsecret_proof(TOKEN, "app-secret")
    assert transport.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_the_batch_call_carries_the_proof_beside_its_token(proving_client, transport):
    transport.reply([None])
    proving_client.batch([BatchRequest.send(recipient={"id": PSID}, message={"text": "x"})])
    form = transport.form
    assert (form["access_token"], form["appsecret_proof"]) == (TOKEN, appsecret_proof(TOKEN, "app-secret"))
    assert transport.query == {}
    assert all("access_token" not in item["body"] for item in json.loads(form["batch"]))


def test_no_proof_without_an_app_secret_nor_on_the_code_exchange(client, transport):
    transport.reply({"data": []})
    client.subscribed_apps(page_id="111")
    assert "appsecret_proof" not in transport.query
    app = GraphClient("1|app-secret", base_url=BASE, session=client.session, app_secret="app-secret")
    transport.reply({"access_token": "user-token"})
    app.exchange_code(redirect_uri="https://x/cb", code="c")
    assert "appsecret_proof" not in transport.query  # no token: the secret itself is the credential
