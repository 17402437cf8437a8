"""Warning criteria sets as data: one YAML file per set, loaded by `alerts.criteria`."""
