"""The paid Marketing Messages API's errors (API References of the Marketing Message API for
Messenger), whichever field Meta puts their number in."""

import pytest

from onesend_plugin.messenger.errors import (
    WARM_UP_RETRY_AFTER,
    BadRequest,
    BudgetSpent,
    CampaignNotReady,
    DailyBudgetReached,
    NotEligibleYet,
    PaidAccountError,
    RateLimited,
    RecipientUnavailable,
    error_from_response,
)

from .test_errors import envelope

TABLE = [
    (2300003, CampaignNotReady, None),
    (2300012, CampaignNotReady, None),
    (2300041, CampaignNotReady, None),
    (2300004, RecipientUnavailable, "invalid_token"),
    (2300034, RecipientUnavailable, "stopped"),
    (2300035, NotEligibleYet, "not_eligible_yet"),
    (2300043, NotEligibleYet, "meta_frequency_cap"),
    (2300052, NotEligibleYet, "recipient_unavailable"),
    (2300078, RateLimited, None),
    (2300011, PaidAccountError, None),
    (2300019, PaidAccountError, None),
    (2300031, PaidAccountError, None),
    (2300026, BadRequest, None),  # too many buttons: the content is wrong
    (2300053, BudgetSpent, None),
    (2300054, DailyBudgetReached, None),
    (2300058, PaidAccountError, None),
]


@pytest.mark.parametrize("number, cls, reason", TABLE, ids=[f"{row[0]}" for row in TABLE])
@pytest.mark.parametrize("field", ["code", "subcode"])
def test_paid_error_numbers_as_code_or_subcode(number, cls, reason, field):
    body = envelope(number) if field == "code" else envelope(100, number)
    error = error_from_response(400, body, {})
    assert type(error) is cls
    assert getattr(error, "reason", None) == reason


def test_a_pacing_refusal_waits_the_remaining_seconds():
    error = error_from_response(400, envelope(2300078, error_data={"remaining_seconds": 42}), {})
    assert error.retry_after == 42
    as_text = envelope(100, 2300078, error_data='{"remaining_seconds": 7}')
    assert error_from_response(400, as_text, {}).retry_after == 7


def test_a_warming_campaign_is_tried_again_minutes_later_and_a_spent_day_an_hour_later():
    headers = {"X-App-Usage": '{"call_count": 10, "estimated_time_to_regain_access": 0}'}
    assert error_from_response(400, envelope(2300003), headers).retry_after == WARM_UP_RETRY_AFTER
    assert error_from_response(400, envelope(2300054), headers).retry_after == 3600


def test_an_account_error_says_what_to_do():
    error = error_from_response(400, envelope(100, 2300019, "(#100) terms"), {})
    assert "App Dashboard" in error.advice
    unknown = PaidAccountError(code=2300099, message="(#2300099) new")
    assert unknown.advice == "(#2300099) new"
