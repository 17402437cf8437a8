"""Contingency plans in the service: stored versions, `/v1/plans`, `hazewarn plans`."""
