"""Transactional outbox of webhook events and the dispatcher that delivers them."""
