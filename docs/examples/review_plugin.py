"""A onesend plugin: flows can be triggered by "Review posted"."""

from onesend_plugin.hooks import hookimpl, plugins


@hookimpl
def trigger_types():
    return [("review_posted", "Review posted")]


def review_posted(review):
    """Store code calls this when a customer posts a review (e.g. from a post_save signal)."""
    plugins.customer_event(
        name="review_posted",
        customer_ref=review.customer_ref,
        properties={"product": review.product_slug, "rating": review.rating},
        idempotency_key=f"review:{review.pk}",
    )
