"""What the sellers app announces to apps above it (which it cannot import)."""

from django.dispatch import Signal

# A seller's API token was refused for its address (sellers.authentication):
# kwargs seller_id, user_id, address (None if unreadable), path. Nothing was written,
# so no trigger sees it; the audit app records it.
api_token_refused = Signal()
