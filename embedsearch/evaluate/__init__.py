"""Quality measurements: each module answers one "how good is it?" question."""
