"""Webhook subscriptions: endpoints, filters, signing secrets and their rotation."""
