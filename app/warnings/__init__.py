"""Warnings in the service: episodes, warnings, audit trail, approval, CAP and Atom."""
