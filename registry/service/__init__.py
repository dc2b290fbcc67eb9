"""The registry service layer: publish, curate, query, search, usage."""
