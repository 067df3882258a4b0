"""Subscribing and leaving: signed refs, subscription links and their redirect views, the opt-in
and unsubscribe flow, and erasure. The Subscribe block stays in ``onesend_plugin.blocks``: sites'
migrations name it by that path."""
