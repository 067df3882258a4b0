"""Facebook Login in the simulator: the dialog, the code exchange, ``/me/accounts``,
``/me/permissions``, ``debug_token``, and the control API's revoke and deny."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from .helpers import APP_SECRET, PAGE_ID, PAGE_TOKEN

APP_ID = "880000000000009"
REDIRECT = "http://127.0.0.1:9/callback/"
SCOPES = "pages_show_list,pages_manage_metadata,pages_messaging"


def owner(sim, pages=2):
    page_ids = [PAGE_ID] + [sim.create_page(name=f"Shop {n}")["page_id"] for n in range(1, pages)]
    return sim.create_user(user_id="500000000000001", name="Olga Owner", page_ids=page_ids), page_ids


def dialog(sim, **query):
    params = {"client_id": APP_ID, "redirect_uri": REDIRECT, "state": "s1", "scope": SCOPES, **query}
    return f"{sim.base_url}/v25.0/dialog/oauth", params


def answer(sim, data, **query):
    url, params = dialog(sim, **query)
    response = requests.post(url, params=params, data=data, allow_redirects=False)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def exchange(sim, code, **overrides):
    params = {
        "client_id": APP_ID,
        "client_secret": APP_SECRET,
        "redirect_uri": REDIRECT,
        "code": code,
        **overrides,
    }
    return requests.get(sim.graph_url("oauth/access_token"), params=params)


def graph_get(sim, path, token, **params):
    return requests.get(sim.graph_url(path), params=params, headers={"Authorization": f"Bearer {token}"})


def test_dialog_code_token_accounts_and_permissions(sim):
    user, page_ids = owner(sim)
    url, params = dialog(sim)
    page = requests.get(url, params=params).text
    assert "Olga Owner" in page and "Shop 1" in page and page.count('data-testid="dialog-page"') == 2
    assert page.count('data-testid="dialog-permission"') == 3

    back = answer(
        sim,
        {"user": user["user_id"], "action": "continue", "page": page_ids, "permission": SCOPES.split(",")},
    )
    assert back["state"] == "s1"
    token = exchange(sim, back["code"]).json()
    assert token["token_type"] == "bearer" and token["access_token"].startswith("EAA")

    first = graph_get(sim, "me/accounts", token["access_token"], limit=1).json()
    assert [row["id"] for row in first["data"]] == [PAGE_ID]
    assert first["data"][0]["access_token"] == PAGE_TOKEN and "MESSAGING" in first["data"][0]["tasks"]
    after = first["paging"]["cursors"]["after"]
    second = graph_get(sim, "me/accounts", token["access_token"], limit=1, after=after).json()
    assert [row["id"] for row in second["data"]] == [page_ids[1]] and "next" not in second["paging"]

    permissions = graph_get(sim, "me/permissions", token["access_token"]).json()["data"]
    assert {p["permission"]: p["status"] for p in permissions} == dict.fromkeys(SCOPES.split(","), "granted")
    # the chosen Pages now belong to the app that asked
    assert {p["page_id"]: p["app_id"] for p in sim.pages()}[PAGE_ID] == APP_ID


def test_unticked_permission_is_declined_and_pages_lose_it(sim):
    user, _ = owner(sim, pages=1)
    back = answer(
        sim,
        {"user": user["user_id"], "action": "continue", "page": [PAGE_ID], "permission": ["pages_show_list"]},
    )
    token = exchange(sim, back["code"]).json()["access_token"]
    statuses = {p["permission"]: p["status"] for p in graph_get(sim, "me/permissions", token).json()["data"]}
    assert statuses == {
        "pages_show_list": "granted",
        "pages_manage_metadata": "declined",
        "pages_messaging": "declined",
    }
    check = graph_get(sim, "debug_token", f"{APP_ID}|{APP_SECRET}", input_token=PAGE_TOKEN).json()["data"]
    assert check["is_valid"] and check["type"] == "PAGE" and check["scopes"] == ["pages_show_list"]
    send = requests.post(
        sim.graph_url("me/messages"),
        json={"recipient": {"id": "1"}, "message": {"text": "hi"}},
        headers={"Authorization": f"Bearer {PAGE_TOKEN}"},
    ).json()
    assert send["error"]["code"] == 200


def test_cancel_redirects_with_access_denied(sim):
    user, _ = owner(sim, pages=1)
    back = answer(sim, {"user": user["user_id"], "action": "cancel"})
    assert back == {
        "error": "access_denied",
        "error_code": "200",
        "error_description": "Permissions error",
        "error_reason": "user_denied",
        "state": "s1",
    }


def test_code_exchange_errors(sim):
    user, _ = owner(sim, pages=1)
    code = answer(sim, {"user": user["user_id"], "action": "continue", "page": [PAGE_ID]})["code"]
    wrong_secret = exchange(sim, code, client_secret="nope").json()["error"]
    assert (wrong_secret["code"], wrong_secret["type"]) == (1, "OAuthException")
    assert exchange(sim, code, redirect_uri="http://evil/").json()["error"]["error_subcode"] == 36008
    assert exchange(sim, "forged").json()["error"]["code"] == 100
    assert exchange(sim, code, client_id="1").json()["error"]["code"] == 100
    assert exchange(sim, code).status_code == 200
    assert exchange(sim, code).json()["error"]["error_subcode"] == 36009  # single use


def test_revoke_and_deny_through_the_control_api(sim):
    user, _ = owner(sim, pages=1)
    code = answer(sim, {"user": user["user_id"], "action": "continue", "page": [PAGE_ID]})["code"]
    user_token = exchange(sim, code).json()["access_token"]

    sim.deny_permission(user["user_id"], "pages_messaging")
    check = graph_get(sim, "debug_token", f"{APP_ID}|{APP_SECRET}", input_token=PAGE_TOKEN).json()["data"]
    assert "pages_messaging" not in check["scopes"]
    statuses = {
        p["permission"]: p["status"] for p in graph_get(sim, "me/permissions", user_token).json()["data"]
    }
    assert statuses["pages_messaging"] == "declined"

    assert sim.revoke_token(PAGE_TOKEN) == {"revoked": "page"}
    error = graph_get(sim, f"{PAGE_ID}/subscribed_apps", PAGE_TOKEN).json()["error"]
    assert (error["code"], error["error_subcode"]) == (190, 460)
    check = graph_get(sim, "debug_token", f"{APP_ID}|{APP_SECRET}", input_token=PAGE_TOKEN).json()["data"]
    assert check["is_valid"] is False and check["error"]["code"] == 190
    fresh = graph_get(sim, "me/accounts", user_token).json()["data"][0]["access_token"]
    assert fresh != PAGE_TOKEN and graph_get(sim, f"{PAGE_ID}/subscribed_apps", fresh).status_code == 200

    assert sim.revoke_token(user_token) == {"revoked": "user"}
    assert graph_get(sim, "me/accounts", user_token).json()["error"]["error_subcode"] == 460
    assert graph_get(sim, "debug_token", "1|wrong", input_token=fresh).json()["error"]["code"] == 190


def test_dialog_needs_an_owner_and_valid_parameters(sim):
    url, params = dialog(sim)
    assert requests.get(url, params=params).status_code == 404  # no business owner yet
    owner(sim, pages=1)
    assert requests.get(url, params={**params, "redirect_uri": "callback"}).status_code == 400
    assert requests.get(f"{sim.base_url}/dialog/oauth", params=params).status_code == 200


def test_pages_held_through_a_business_are_listed_by_its_edges_not_me_accounts(sim):
    """Graph API reference: User businesses, Business owned_pages and client_pages (needs
    ``business_management``); ``/me/accounts`` lists only the Pages the person has a role on."""
    brand = sim.create_page(name="Brand")["page_id"]
    bakery = sim.create_page(name="Bakery")["page_id"]
    business = {
        "id": "600000000000001",
        "name": "Group",
        "owned_page_ids": [brand],
        "client_page_ids": [bakery],
    }
    user = sim.create_user(user_id="500000000000001", page_ids=[PAGE_ID], businesses=[business])
    page = requests.get(*dialog(sim)).text
    assert page.count('data-testid="dialog-page"') == 3  # the person's Page and the business's two

    asked = [*SCOPES.split(","), "business_management"]

    def login(ticked):
        data = {
            "user": user["user_id"],
            "action": "continue",
            "page": [PAGE_ID, brand, bakery],
            "permission": ticked,
        }
        return exchange(sim, answer(sim, data, scope=",".join(asked))["code"]).json()["access_token"]

    token = login(asked)
    assert [p["id"] for p in graph_get(sim, "me/accounts", token).json()["data"]] == [PAGE_ID]
    assert graph_get(sim, "me/businesses", token).json()["data"] == [{"id": business["id"], "name": "Group"}]
    owned = graph_get(sim, f"{business['id']}/owned_pages", token, fields="id,name,access_token").json()[
        "data"
    ]
    assert [(p["id"], p["access_token"]) for p in owned] == [(brand, sim.pages()[1]["access_token"])]
    client = graph_get(sim, f"{business['id']}/client_pages", token).json()["data"]
    assert [(p["id"], "access_token" in p) for p in client] == [(bakery, False)]  # only the fields asked
    assert graph_get(sim, "600000000000009/owned_pages", token).json()["error"]["code"] == 100

    token = login(SCOPES.split(","))  # business_management unticked
    assert graph_get(sim, "me/businesses", token).json()["error"]["code"] == 200
