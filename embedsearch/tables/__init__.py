"""Tables: every embedding space as a lookup table with named keys (see base.Table)."""
