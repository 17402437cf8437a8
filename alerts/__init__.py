"""Pure warning decisions: criteria sets, episode lifecycle, regional rules, CAP, signing."""
