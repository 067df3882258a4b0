"""The webhook inbox: store every delivery raw, split it into deduplicated events, process them.

Inside Meta's request only the raw body is stored (one INSERT, the signature having been checked):
nothing else can make Meta time out and redeliver. Workers then take stored deliveries in
batches, oldest first: they split them into events (a replayed event's dedupe key exists
already, so it is dropped), and process the batch's events in one transaction, so a burst of
small POSTs costs a few transactions rather than several per event.
"""
