"""Public (non-admin) endpoints: Meta's webhook."""

from __future__ import annotations

import logging

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .. import conf
from ..messenger import signature
from ..models import MetaApp
from . import drain, storage

logger = logging.getLogger(__name__)

try:  # Django >= 5.1: keep the webhook public under LoginRequiredMiddleware too
    from django.contrib.auth.decorators import login_not_required
except ImportError:  # pragma: no cover

    def login_not_required(view):
        return view


@method_decorator([csrf_exempt, login_not_required], name="dispatch")
class WebhookView(View):
    """Meta's callback URL for one app: ``/onesend/webhook/<app_id>/``.

    GET answers Meta's subscription check. POST accepts only bodies signed with the app secret,
    stores them before anything else, answers 200 at once and leaves processing to a worker.
    """

    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest, app_id: str) -> HttpResponse:
        app = get_object_or_404(MetaApp, app_id=app_id)
        answer = signature.challenge(request.GET, app.verify_token)
        if answer is not None:
            return HttpResponse(answer, content_type="text/plain")
        logger.warning("Webhook verification for app %s refused (mode or verify token wrong)", app_id)
        return HttpResponseForbidden("Verification failed.")

    def post(self, request: HttpRequest, app_id: str) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isascii() or not length.isdigit():  # int() would also take " 1_0", "-5"
            logger.warning("Webhook for app %s refused: Content-Length %r", app_id, length[:40])
            return HttpResponseBadRequest("Invalid Content-Length.")
        if int(length) > conf.get("WEBHOOK_MAX_BODY_BYTES"):
            logger.warning("Webhook for app %s refused: body too large", app_id)
            return HttpResponse("Body too large.", status=413)
        body = request.body
        try:
            app_pk = storage.signed_app(app_id, body, request.headers.get(signature.HEADER))
        except MetaApp.DoesNotExist:
            raise Http404("No such Meta app.") from None
        if app_pk is None:
            logger.warning(
                "Webhook for app %s refused: missing or invalid %s (from %s)",
                app_id,
                signature.HEADER,
                request.META.get("REMOTE_ADDR"),
            )
            return HttpResponseForbidden("Invalid signature.")
        storage.store_delivery(app_pk, body, request.headers)
        transaction.on_commit(drain.enqueue_webhook_processing)
        return HttpResponse("EVENT_RECEIVED", content_type="text/plain")
