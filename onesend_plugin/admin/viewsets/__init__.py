"""Admin viewsets, one module per model family, grouped under one "Messenger" menu (``..menu``);
``scoped`` confines every view of each of them to the user's accounts."""
