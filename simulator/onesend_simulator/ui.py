"""The web page a person clicks through: ``/m.me/{page}?ref=`` (pick who you are), the thread at
``/_sim/ui/{psid}``, the ``/_sim/`` index (Pages, people, ad accounts' spend), and Meta's login
dialog ``/{version}/dialog/oauth`` where the business owner picks the Pages and permissions an app gets. The thread is rendered by ``static/thread.js`` from the
control API, so the browser does exactly what tests do through ``SimulatorRemote``.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from string import Template
from urllib.parse import urlencode

from aiohttp import web

from .errors import ControlError
from .model import Grant, Page, User
from .world import World
from .world.business import FLOWS, business_scopes

HERE = Path(__file__).parent
STATIC = HERE / "static"
COOKIE_MAX_AGE = 365 * 24 * 3600


def _template(name: str) -> Template:
    return Template((HERE / "templates" / name).read_text())


LAYOUT, INDEX, LINK, THREAD, DIALOG = map(
    _template, ("layout.html", "index.html", "link.html", "thread.html", "dialog.html")
)
DIALOG_PATHS = ("/dialog/oauth", r"/{version:v\d+\.\d+}/dialog/oauth")


def _html(title: str, body: str) -> web.Response:
    return web.Response(text=LAYOUT.substitute(title=escape(title), body=body), content_type="text/html")


def _cookie(page: Page) -> str:
    """The person a browser is, per Page (so a second link click continues the same thread)."""
    return f"onesend_sim_{page.page_id}"


class Ui:
    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_sim/", self.index),
            web.get("/_sim/ui/{psid}", self.thread),
            web.get("/_sim/people/{psid}/picture", self.picture),
            web.get("/m.me/{page}", self.link),
            web.post("/m.me/{page}", self.open),
            web.static("/_sim/static", STATIC),
            *(web.get(path, self.dialog) for path in DIALOG_PATHS),
            *(web.post(path, self.answer) for path in DIALOG_PATHS),
        ]

    async def picture(self, request: web.Request) -> web.Response:
        """A person's profile picture (the User Profile API's ``profile_pic``): their initials."""
        try:
            person = self.world.person(request.match_info["psid"])
        except ControlError:
            raise web.HTTPNotFound(text="No such person in the simulator") from None
        initials = escape("".join(word[0] for word in person.name.split()[:2]).upper())
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
            '<circle cx="32" cy="32" r="32" fill="#0866ff"/><text x="32" y="40" font-size="24" '
            f'font-family="sans-serif" fill="#fff" text-anchor="middle">{initials}</text></svg>'
        )
        return web.Response(text=svg, content_type="image/svg+xml")

    def _page(self, request: web.Request) -> Page:
        try:
            return self.world.page_by_name(request.match_info["page"])
        except ControlError:
            raise web.HTTPNotFound(text="No such Page in the simulator") from None

    async def index(self, request: web.Request) -> web.Response:
        sections = []
        for page in self.world.pages.values():
            people = "".join(
                f'<li><a href="/_sim/ui/{p.psid}" data-testid="person-link">{escape(p.name)}</a> '
                f"<small>{p.psid}</small></li>"
                for p in self.world.people.values()
                if p.page_id == page.page_id
            )
            sections.append(
                f'<section data-testid="page" data-page-id="{page.page_id}"><h2>{escape(page.name)}</h2>'
                f'<p>id {page.page_id} &middot; <a href="/m.me/{escape(page.username)}">m.me/{escape(page.username)}</a>'
                f"</p><ul>{people or '<li>No people yet</li>'}</ul></section>"
            )
        body = INDEX.substitute(
            pages="".join(sections) or "<p>No Pages yet: create one with POST /_sim/pages.</p>",
            ad_accounts=self._ad_accounts(),
        )
        return _html("Messenger simulator", body)

    def _ad_accounts(self) -> str:
        """What each ad account spent on paid marketing messages: the simulator's own bookkeeping
        of charged deliveries, which its campaigns' insights add up to (``ad_account_spend``).
        The simulator knows no currency: amounts are in the ad account's."""
        rows = []
        for account_id, figures in self.world.ad_account_spend().items():
            pages = ", ".join(self.world.pages[p].name for p in figures["page_ids"] if p in self.world.pages)
            rows.append(
                f'<tr data-testid="ad-account" data-ad-account="{escape(account_id)}">'
                f"<td>{escape(account_id)}</td><td>{escape(pages)}</td><td>{figures['campaigns']}</td>"
                f'<td>{figures["delivered"]}</td><td data-testid="ad-account-spend">{figures["spend"]}</td></tr>'
            )
        if not rows:
            return "<p>No paid marketing messages yet.</p>"
        return (
            "<table><thead><tr><th>Ad account</th><th>Pages</th><th>Message campaigns</th>"
            f"<th>Delivered (charged)</th><th>Spend</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    async def link(self, request: web.Request) -> web.Response:
        """``m.me/<page>?ref=``: choose a new or existing simulated person, then open the thread."""
        page = self._page(request)
        remembered = request.cookies.get(_cookie(page))
        people = [p for p in self.world.people.values() if p.page_id == page.page_id]
        remembered = remembered if any(p.psid == remembered for p in people) else None
        choices = "".join(
            f'<label class="choice"><input type="radio" name="person" value="{p.psid}" data-testid="person-existing"'
            f"{' checked' if p.psid == remembered else ''}> {escape(p.name)} <small>{p.psid}</small></label>"
            for p in people
        )
        body = LINK.substitute(
            page_name=escape(page.name),
            username=escape(page.username),
            ref=escape(request.query.get("ref", "")),
            new_checked="" if remembered else "checked",
            suggested_name=f"Person {len(self.world.people) + 1}",
            people=choices,
        )
        return _html(f"{page.name} on Messenger", body)

    async def open(self, request: web.Request) -> web.Response:
        page = self._page(request)
        form = await request.post()
        choice = str(form.get("person", "new"))
        try:
            if choice == "new":
                person = self.world.add_person(page.page_id, str(form.get("name", "")).strip() or None)
            else:
                person = self.world.person(choice)
                if person.page_id != page.page_id:
                    raise web.HTTPBadRequest(text="That person belongs to another Page")
            ref = str(form.get("ref", "")) or request.query.get("ref") or None
            self.world.open_link(person.psid, ref, tap_get_started=False)  # the thread shows the button
        except ControlError as error:
            if error.status != 409:  # a person who blocked the Page still sees the thread (with a banner)
                raise web.HTTPBadRequest(text=str(error)) from None
        response = web.HTTPSeeOther(f"/_sim/ui/{person.psid}")
        response.set_cookie(_cookie(page), person.psid, max_age=COOKIE_MAX_AGE, path="/", samesite="Lax")
        raise response

    async def thread(self, request: web.Request) -> web.Response:
        try:
            person = self.world.person(request.match_info["psid"])
        except ControlError:
            raise web.HTTPNotFound(text="No such person in the simulator") from None
        page = self.world.pages[person.page_id]
        body = THREAD.substitute(
            page_name=escape(page.name), person_name=escape(person.name), psid=person.psid
        )
        return _html(f"{page.name} - Messenger", body)

    # -------------------------------------------------------------------- the login dialog

    @staticmethod
    def _dialog_params(request: web.Request) -> tuple[str, str, str, list[str]]:
        """client_id, redirect_uri, state and the requested permissions (``scope``)."""
        client_id = request.query.get("client_id", "")
        redirect_uri = request.query.get("redirect_uri", "")
        if not client_id.isdigit() or not redirect_uri.startswith(("http://", "https://")):
            raise web.HTTPBadRequest(text="The dialog needs a numeric client_id and an absolute redirect_uri")
        scopes = [scope.strip() for scope in request.query.get("scope", "").split(",") if scope.strip()]
        return client_id, redirect_uri, request.query.get("state", ""), scopes

    async def dialog(self, request: web.Request) -> web.Response:
        """What the business owner sees: their Pages to tick, the requested permissions to untick."""
        client_id, _, _, scopes = self._dialog_params(request)
        if not self.world.users:
            raise web.HTTPNotFound(
                text="No business owner in the simulator: create one with POST /_sim/users"
            )
        wanted = request.query.get("user")
        user = self.world.users.get(wanted or "") or next(iter(self.world.users.values()))
        others = [u for u in self.world.users.values() if u is not user]
        switch = " ".join(
            f'<a href="?{urlencode({**request.query, "user": u.user_id})}" data-testid="dialog-switch-user">'
            f"Log in as {escape(u.name)}</a>"
            for u in others
        )
        pages = "".join(
            f'<label class="choice"><input type="checkbox" name="page" value="{page_id}" '
            f'data-testid="dialog-page"> {escape(self.world.pages[page_id].name)} <small>{page_id}</small></label>'
            for page_id in self.world.reachable_pages(user)
        )
        flow = self._business_flow(request)
        if flow is None:
            permissions = "".join(
                f'<label class="choice"><input type="checkbox" name="permission" value="{escape(scope)}" '
                f'checked data-testid="dialog-permission"> {escape(scope)}</label>'
                for scope in scopes
            )
        else:  # Login for Business: the configuration's permissions, all granted or none
            permissions = f'<p data-testid="dialog-config">{escape(", ".join(business_scopes(flow)))}</p>'
            pages += self._ad_account_choices(user, flow)
        body = DIALOG.substitute(
            user_id=user.user_id,
            user_name=escape(user.name),
            client_id=client_id,
            switch=switch,
            pages=pages or "<p>You manage no Pages.</p>",
            permissions=permissions or "<p>Only your public profile.</p>",
        )
        return _html("Log in with Facebook", body)

    def _business_flow(self, request: web.Request) -> str | None:
        """The Facebook Login for Business flow of the dialog's ``config_id`` (None: plain Facebook
        Login). A system-user token needs ``response_type=code`` (Onboard Businesses with
        Marketing Message API for Messenger, "Login dialog")."""
        config_id = request.query.get("config_id")
        if not config_id:
            return None
        flow = self.world.login_configs.get(config_id)
        if flow is None:
            raise web.HTTPBadRequest(text=f"No Facebook Login for Business configuration {config_id}")
        if FLOWS[flow][0] == "system_user" and request.query.get("response_type") != "code":
            raise web.HTTPBadRequest(text="A system user access token needs response_type=code")
        return flow

    def _ad_account_choices(self, user: User, flow: str) -> str:
        """The ad accounts to tick: Flow 1 and Flow 2 take Pages and ad accounts, Flow 3 Pages only."""
        if flow == "partner":
            return "<p>The partner's ad account is billed.</p>"
        rows = "".join(
            f'<label class="choice"><input type="checkbox" name="ad_account" value="{account_id}" '
            f'data-testid="dialog-ad-account"> {escape(self.world.ad_accounts[account_id].name)} '
            f"<small>act_{account_id}</small></label>"
            for account_id in user.ad_account_ids
            if account_id in self.world.ad_accounts
        )
        return f"<h2>Which ad accounts may it use?</h2>{rows or '<p>You manage no ad accounts.</p>'}"

    async def answer(self, request: web.Request) -> web.Response:
        """Continue: back to the app with a one-use ``code``; Cancel: with Meta's ``access_denied``."""
        client_id, redirect_uri, state, scopes = self._dialog_params(request)
        form = await request.post()
        if form.get("action") == "cancel":
            answer = {
                "error": "access_denied",
                "error_code": "200",
                "error_description": "Permissions error",
                "error_reason": "user_denied",
            }
        elif self._business_flow(request) is not None:
            grant = Grant(str(form.get("user", "")), client_id, redirect_uri, list(form.getall("page", [])))
            grant.config_id = request.query["config_id"]
            try:
                code = self.world.authorize_business(
                    grant.user_id, grant, list(form.getall("ad_account", []))
                )
            except ControlError as error:
                raise web.HTTPBadRequest(text=str(error)) from None
            answer = {"code": code}
        else:
            ticked = set(form.getall("permission", []))
            try:
                code = self.world.authorize(
                    str(form.get("user", "")),
                    client_id,
                    redirect_uri,
                    [str(page_id) for page_id in form.getall("page", [])],
                    scopes,
                    [scope for scope in scopes if scope not in ticked],
                )
            except ControlError as error:
                raise web.HTTPBadRequest(text=str(error)) from None
            answer = {"code": code}
        if state:
            answer["state"] = state
        raise web.HTTPFound(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(answer)}")
