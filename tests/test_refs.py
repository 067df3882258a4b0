"""Signed subscription refs."""

import re

import pytest

from onesend_plugin.subscribe import refs

META_REF_ALPHABET = re.compile(r"^[A-Za-z0-9_=-]+$")


@pytest.mark.parametrize(
    "source, tags, customer",
    [("footer", (), ""), ("poster-1", ("vip", "summer sale"), "cust-42"), ("é", ("ü",), "ñ")],
)
def test_round_trip_within_metas_ref_alphabet(source, tags, customer):
    ref = refs.encode(source, tags, customer)
    assert META_REF_ALPHABET.match(ref)
    assert refs.decode(ref) == refs.SubscriptionRef(source=source, tags=tags, customer_ref=customer)


def test_tampered_refs_carry_no_tags_or_customer():
    ref = refs.encode("footer", ("vip",), "cust-1")
    token, _, sig = ref.partition("=")
    forged_token = refs.encode("footer", ("admin", "free-money"), "cust-2").partition("=")[0]
    for forged in (f"{forged_token}={sig}", f"{token}={sig[:-1]}A", token, "vip_list", f"{token}="):
        decoded = refs.decode(forged)
        assert decoded.tags == ()
        assert decoded.customer_ref == ""
        assert not decoded.verified


def test_unsigned_refs_keep_a_sanitised_source_for_reporting():
    decoded = refs.decode("summer_coupon<script>")
    assert decoded.source == "summer_couponscript"
    assert not decoded.verified


def test_refs_signed_with_another_secret_are_not_trusted(settings):
    ref = refs.encode("footer", ("vip",))
    settings.SECRET_KEY = "another-site"
    assert refs.decode(ref).tags == ()


def test_no_ref_means_a_direct_visit():
    assert refs.decode("").entry_point == "direct"
    assert refs.decode(None).verified
