"""Visits (走访, 三必到五必访): the rules that say who visits which households how often, and the due lists they give.
Pure: no database, no HTTP (api.storage.visits reads and writes, api.routers.visits serves)."""
