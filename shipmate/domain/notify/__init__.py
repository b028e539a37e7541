"""Notifications as pure rules: which rule matches an event, the message it sends, escaping per target."""
