"""The "Repeat buyers" segment: a campaign sent to it reaches exactly the customers with two
orders or more."""


def order(onesend_track, customer_ref, order_id):
    properties = {"order_id": order_id, "value": "20.00", "currency": "EUR"}
    onesend_track(
        "order_placed", customer_ref=customer_ref, properties=properties, idempotency_key=f"order:{order_id}"
    )


def test_a_campaign_to_repeat_buyers_reaches_them_only(onesend_subscribe, onesend_track, onesend_send):
    ann = onesend_subscribe(customer_ref="ann")
    onesend_subscribe(customer_ref="ben")  # orders once
    onesend_subscribe()  # never orders
    for customer_ref, order_id in (("ann", "1"), ("ann", "2"), ("ben", "3")):
        order(onesend_track, customer_ref, order_id)
    sent = onesend_send("Thanks for coming back: 15 % off", segment="repeat_buyers")
    assert list(sent.outcomes) == [ann.psid]
    assert set(sent.threads) == {ann.psid}


def test_editors_are_offered_it_in_the_campaign_editor(admin_client, onesend_account):
    editor = admin_client.get("/admin/messenger/campaigns/add/").content.decode()
    assert '<option value="repeat_buyers">Repeat buyers (2+ orders)</option>' in editor
