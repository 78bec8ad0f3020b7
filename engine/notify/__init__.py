"""Notifications: events go to the store's outbox; the notifier process sends them via apprise."""
