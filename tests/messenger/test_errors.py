"""Meta error envelopes map to the class that says what to do (reference §4.1, §4.2); usage headers."""

import inspect
import json

import pytest

from onesend_plugin.messenger import errors
from onesend_plugin.messenger.errors import (
    AuthError,
    BadRequest,
    CampaignNotReady,
    GraphError,
    NotEligibleYet,
    OptinAlreadyRequested,
    OutsideWindow,
    PageRestricted,
    PaidAccountError,
    RateLimited,
    RecipientUnavailable,
    SentDespiteError,
    TransientError,
    Usage,
    error_from_response,
)


def envelope(code, subcode=None, message="(#0) boom", **extra) -> dict:
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "BLBz/WZt8dN", **extra}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


# Every row of the reference's error table (§4.2), in its order: (code, subcode, message, class, reason).
TABLE = [
    (1, 99, "An unknown error occurred", TransientError, None),
    (1, 1357046, "Received invalid JSON reply.", SentDespiteError, None),
    (2, None, "Service temporarily unavailable", TransientError, None),
    (4, None, "Application request limit reached", RateLimited, None),
    (4, 2018354, "Message sent before the minimum delay", NotEligibleYet, "frequency_cap"),
    (9, 2018352, "Too many opt-in requests", RateLimited, None),
    (10, 1404170, "Page temporarily restricted from sending opt-in requests", PageRestricted, None),
    (
        10,
        1893015,
        "This user has currently stopped notification messages for this topic",
        RecipientUnavailable,
        "stopped",
    ),
    (10, 2018278, "Message sent outside of allowed window", OutsideWindow, None),
    (10, 2534022, "Message sent outside of allowed window", OutsideWindow, None),
    (10, 2018065, "News Messaging permission needed", OutsideWindow, None),
    (10, 2018108, "They can't receive your messages right now", RecipientUnavailable, "unreachable"),
    (10, 1893063, "Page temporarily restricted from messaging", PageRestricted, None),
    (10, 2018336, "User thread impacted", RecipientUnavailable, "unreachable"),
    (17, None, "User request limit reached", RateLimited, None),
    (32, None, "Page request limit reached", RateLimited, None),
    (100, None, "(#100) Invalid parameter", BadRequest, None),
    (100, None, "(#100) `notification_messages_token` is invalid", RecipientUnavailable, "invalid_token"),
    (100, None, "(#100) The notification_messages_token has expired", RecipientUnavailable, "invalid_token"),
    (100, 2018001, "No matching user found", RecipientUnavailable, "no_user"),
    (100, 33, "Object does not exist or missing permissions", BadRequest, None),
    (100, 2018008, "Failed to fetch the file from the url", BadRequest, None),
    (100, 2018047, "Upload attachment failure: media type mismatch", BadRequest, None),
    (100, 2018074, "Attachment id is invalid", BadRequest, None),
    (100, 2018109, "Attachment size exceeds allowable limit", BadRequest, None),
    (100, 2018294, "Video upload timed out", BadRequest, None),
    (100, 2018014, "Message and sender_action cannot be sent together", BadRequest, None),
    (190, None, "Invalid OAuth access token", AuthError, None),
    (190, 463, "Error validating access token: Session has expired", AuthError, None),
    (200, None, "Requires pages_messaging permission", AuthError, None),
    (200, 1545041, "This person isn't available right now", RecipientUnavailable, "unreachable"),
    (230, None, "Permissions disallow message to user", RecipientUnavailable, "unreachable"),
    (368, None, "The action attempted has been deemed abusive", PageRestricted, None),
    (551, None, "This person isn't receiving messages from you right now", RecipientUnavailable, "blocked"),
    (551, 1545041, "This person isn't available right now", RecipientUnavailable, "unreachable"),
    (613, None, "Calls to this api have exceeded the rate limit", RateLimited, None),
    (
        613,
        1893016,
        "You may not send multiple opt-in requests with the same topic",
        OptinAlreadyRequested,
        "frequency_cap",
    ),
    (613, 2018338, "Too many tagged messages to this person", NotEligibleYet, "frequency_cap"),
    (613, 2534040, "Calls to this api have exceeded the rate limit", RateLimited, None),
    (1200, None, "Temporary send message failure. Please try again later", TransientError, None),
    (80006, None, "There have been too many messenger api calls to this Page account", RateLimited, None),
    (9000001, None, "Message deleted by user or business", BadRequest, None),
]


def test_a_stopped_topic_ends_that_topic_only():
    """10/1893015 names the topic of the token used; the paid API's 2300034 the subscription."""
    topic = error_from_response(400, envelope(10, 1893015, "(#10) stopped for this topic"), {})
    paid = error_from_response(400, envelope(2300034, None, "stopped the subscription"), {})
    assert (topic.reason, topic.topic_only) == ("stopped", True)
    assert (paid.reason, paid.topic_only) == ("stopped", False)


@pytest.mark.parametrize(
    "message",
    [
        "(#100) API calls from the server require an appsecret_proof argument",
        "Invalid appsecret_proof provided in the API argument",
    ],
)
def test_a_missing_or_wrong_appsecret_proof_stops_the_page(message):
    """An app with "Require App Secret" refuses every call of the Page: pause it, as for a dead
    token, rather than failing each recipient as a bad request."""
    error = error_from_response(
        400, {"error": {"message": message, "type": "GraphMethodException", "code": 100}}
    )
    assert type(error) is AuthError


@pytest.mark.parametrize(
    "code, subcode, message, cls, reason",
    TABLE,
    ids=[f"{row[0]}/{row[1]}-{row[3].__name__}" for row in TABLE],
)
def test_error_table(code, subcode, message, cls, reason):
    error = error_from_response(400, envelope(code, subcode, message), {})
    assert type(error) is cls
    assert getattr(error, "reason", None) == reason
    assert (error.code, error.subcode, error.message) == (code, subcode, message)
    assert (error.error_type, error.fbtrace_id, error.http_status) == ("OAuthException", "BLBz/WZt8dN", 400)


def test_access_token_message_with_code_100_is_not_a_dead_recipient():
    error = error_from_response(400, envelope(100, None, "The access token is invalid"), {})
    assert type(error) is BadRequest


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(envelope(10, 1893015)),
        json.dumps(envelope(10, 1893015)).encode(),
        envelope(10, 1893015),
        envelope("10", "1893015"),  # defensive: numbers sent as strings
    ],
    ids=["str", "bytes", "dict", "string-codes"],
)
def test_body_forms(body):
    error = error_from_response(400, body, None)
    assert isinstance(error, RecipientUnavailable) and error.reason == "stopped"


@pytest.mark.parametrize(
    "status, body, cls",
    [
        (500, b"<html>Internal Server Error</html>", TransientError),
        (502, b"", TransientError),
        (503, None, TransientError),
        (400, b"not json", BadRequest),
        (404, b"[]", BadRequest),
        (400, b'{"error": "just a string"}', BadRequest),
        (429, b"slow down", RateLimited),
        (200, b"<html>captive portal</html>", TransientError),
    ],
)
def test_unparseable_bodies_fall_back_on_the_status(status, body, cls):
    error = error_from_response(status, body, {})
    assert type(error) is cls
    assert (error.code, error.http_status) == (None, status)


@pytest.mark.parametrize("status, cls", [(400, BadRequest), (500, TransientError), (503, TransientError)])
def test_unknown_codes_fall_back_on_the_status(status, cls):
    assert type(error_from_response(status, envelope(123456), {})) is cls


def test_hierarchy_and_docstrings():
    classes = [cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, GraphError)]
    assert len(classes) == 16
    assert all(cls.__doc__ and len(cls.__doc__) > 40 for cls in classes)
    assert issubclass(OptinAlreadyRequested, NotEligibleYet)
    assert issubclass(PageRestricted, AuthError)
    assert issubclass(PaidAccountError, AuthError) and issubclass(CampaignNotReady, RateLimited)
    assert issubclass(errors.PaidTokenMissing, PaidAccountError)


def test_str_and_repr_show_what_helps_debugging():
    error = error_from_response(400, envelope(10, 1893015, "(#10) stopped"), {})
    assert (
        str(error)
        == "(#10) stopped [code=10, subcode=1893015, type=OAuthException, http=400, fbtrace_id=BLBz/WZt8dN]"
    )
    assert repr(error) == f"RecipientUnavailable({str(error)!r})"
    assert str(GraphError(message="plain")) == "plain"


# -- usage headers -----------------------------------------------------------------------------


def buc(**entry) -> str:
    """An ``X-Business-Use-Case-Usage`` value with one Page entry."""
    return json.dumps(
        {"111": [{"type": "messenger", "call_count": 100, "total_cputime": 25, "total_time": 25, **entry}]}
    )


BUC = buc(estimated_time_to_regain_access=19)
APP = json.dumps({"call_count": 28, "total_time": 25, "total_cputime": 25})


def test_usage_from_the_reference_headers():
    usage = Usage.from_headers({"X-App-Usage": APP, "X-Business-Use-Case-Usage": BUC})
    assert usage == Usage(percent=100, regain_access_minutes=19)


def test_usage_takes_the_highest_metric_of_every_bucket_and_ignores_header_case():
    buc = {
        "1": [{"call_count": 10, "total_time": 5}],
        "2": [{"call_count": "7", "total_cputime": 64}, "junk"],
    }
    usage = Usage.from_headers(
        {"x-business-use-case-usage": json.dumps(buc), "X-APP-USAGE": '{"call_count": 3}'}
    )
    assert usage == Usage(percent=64, regain_access_minutes=None)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-App-Usage": "not json"},
        {"X-Business-Use-Case-Usage": "[1, 2]"},
        {"X-Business-Use-Case-Usage": "{}"},
    ],
)
def test_no_usable_usage_headers(headers):
    assert Usage.from_headers(headers) is None


def test_errors_carry_usage():
    error = error_from_response(400, envelope(80006), {"X-Business-Use-Case-Usage": BUC})
    assert isinstance(error, RateLimited)
    assert error.usage == Usage(percent=100, regain_access_minutes=19)
    assert error.retry_after == 19 * 60


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-App-Usage": APP},
        {"X-Business-Use-Case-Usage": buc()},
    ],
)
def test_retry_after_defaults_without_a_regain_estimate(headers):
    assert error_from_response(400, envelope(613), headers).retry_after == errors.DEFAULT_RETRY_AFTER == 60


def test_a_zero_regain_estimate_means_a_short_pause():
    headers = {"X-Business-Use-Case-Usage": buc(estimated_time_to_regain_access=0)}
    assert error_from_response(400, envelope(613), headers).retry_after == errors.MIN_RETRY_AFTER == 0.25
