"""The errors the simulator raises: Graph API errors in Meta's envelope, and control-API errors.

Every Graph error the rules can produce has a named constructor here, so the codes, subcodes and
wording (Meta's "Common error codes",
https://developers.facebook.com/docs/messenger-platform/error-codes) live in one place and tests can
compare against them.
"""

from __future__ import annotations

import secrets
from typing import Any


class GraphError(Exception):
    """A Graph API error; ``envelope()`` is the JSON body Meta returns with it."""

    def __init__(
        self,
        code: int,
        message: str,
        subcode: int | None = None,
        *,
        status: int = 400,
        kind: str = "OAuthException",
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.status = status
        self.kind = kind
        self.transient = transient

    @property
    def key(self) -> str:
        """``"code"`` or ``"code/subcode"``: how the stats count rejections."""
        return f"{self.code}/{self.subcode}" if self.subcode else str(self.code)

    def envelope(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": f"(#{self.code}) {self}", "type": self.kind, "code": self.code}
        if self.subcode:
            error["error_subcode"] = self.subcode
        if self.transient:
            error["is_transient"] = True
        error["fbtrace_id"] = secrets.token_urlsafe(8)[:11]
        return {"error": error}


class ControlError(Exception):
    """A control-API (``/_sim/``) error: a plain message with an HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def param(message: str, subcode: int | None = None) -> GraphError:
    return GraphError(100, message, subcode)


def invalid_access_token() -> GraphError:
    return GraphError(190, "Invalid OAuth access token - Cannot parse access token")


def no_object(object_id: str, method: str) -> GraphError:
    return GraphError(
        100,
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation",
        33,
        kind="GraphMethodException",
    )


def unknown_path(path: str) -> GraphError:
    return GraphError(2500, f"Unknown path components: /{path}")


def transient() -> GraphError:
    return GraphError(2, "Service temporarily unavailable", status=503, transient=True)


def temporary_send_failure() -> GraphError:
    """Meta's transient send error ("Common error codes": 1200, retry later)."""
    return GraphError(1200, "Temporary send message failure. Please try again later", transient=True)


def invalid_json_reply() -> GraphError:
    """The answer of a batch whose messages were all sent ("Common error codes", 1/1357046: "The
    messages are all sent successfully, but the endpoint returns an error")."""
    return GraphError(1, "Received invalid JSON reply.", 1357046)


def appsecret_proof_required() -> GraphError:
    """A call without ``appsecret_proof`` to an app with "Require App Secret" (Graph API,
    "Securing Graph API Requests")."""
    return GraphError(
        100, "API calls from the server require an appsecret_proof argument", kind="GraphMethodException"
    )


def invalid_appsecret_proof() -> GraphError:
    return GraphError(
        100, "Invalid appsecret_proof provided in the API argument", kind="GraphMethodException"
    )


def rate_limited() -> GraphError:
    return GraphError(613, "Calls to this api have exceeded the rate limit.")


def high_volume_locked() -> GraphError:
    """A Page over Meta's high-volume threshold "cannot send new messages until the volume
    decreases" (Messenger Platform rate limits, "High-volume messaging"). Meta names no error
    for it: 613, its rate-limit code, is the simulator's assumption."""
    return GraphError(
        613,
        "Calls to this api have exceeded the rate limit. (high-volume messaging: the Page sends "
        "too many messages per second; it can send again when the volume decreases)",
    )


def message_and_action() -> GraphError:
    return param("Cannot send message and sender_action in the same request", 2018014)


def user_not_found() -> GraphError:
    return param("No matching user found", 2018001)


def outside_window() -> GraphError:
    return GraphError(10, "This message is sent outside of allowed window.", 2018278)


def blocked() -> GraphError:
    return GraphError(551, "This person isn't receiving messages from you right now")


def invalid_optin_token() -> GraphError:
    return param("The notification_messages_token is invalid")


def stopped() -> GraphError:
    return GraphError(10, "This user has currently stopped notification messages for this topic", 1893015)


def legacy_region() -> GraphError:
    """A legacy token send for a business outside Meta's five geos. Meta says only that "the
    Messenger API will start returning errors" (Marketing Messages FAQ) and documents no code:
    code 10 (permission) is the simulator's choice."""
    return GraphError(
        10, "Recurring Notifications are only available to businesses in the AU, EU, JP, KR and UK geos"
    )


def cooldown() -> GraphError:
    return GraphError(4, "Marketing message sent before the minimum delay for this person", 2018354)


def duplicate_topic() -> GraphError:
    return GraphError(613, "You may not send multiple opt-in requests with the same topic to a user", 1893016)


def bad_attachment_id() -> GraphError:
    return param("The attachment_id is invalid or does not belong to this Page", 2018074)


def attachment_type_mismatch() -> GraphError:
    return param("The attachment type does not match the uploaded media", 2018047)


def attachment_too_large() -> GraphError:
    return param("The attachment is larger than 25 MB", 2018109)


def invalid_subscription_token() -> GraphError:
    return param("Invalid subscription token", 2300004)


def page_mismatch() -> GraphError:
    return param("The Page of the subscription token does not match", 2300005)


def inactive_campaign() -> GraphError:
    return param("The campaign is not active", 2300000)


def revoked_token() -> GraphError:
    return GraphError(
        190,
        "Error validating access token: The session has been invalidated because the user changed "
        "their password or Facebook has changed the session for security reasons.",
        460,
    )


def missing_permission(permission: str) -> GraphError:
    return GraphError(200, f"Requires {permission} permission to manage the object")


def bad_client_secret() -> GraphError:
    return GraphError(1, "Error validating client secret.")


def bad_verification_code() -> GraphError:
    return param("Invalid verification code format.")


def code_used() -> GraphError:
    return param("This authorization code has been used.", 36009)


def redirect_uri_mismatch() -> GraphError:
    return param(
        "Error validating verification code. Please make sure your redirect_uri is identical to the "
        "one you used in the OAuth dialog request",
        36008,
    )
