"""Each city's heavy-pollution contingency plan as validated data, and `actions_for`."""
