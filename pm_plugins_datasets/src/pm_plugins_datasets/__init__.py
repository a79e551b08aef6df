"""pm plugin package."""
