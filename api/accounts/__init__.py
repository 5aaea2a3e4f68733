"""Accounts: roles and scopes (roles), the signed-in user (`Principal`), passwords, tokens, sessions and the
account administration the CLI uses (users). HTTP is in api.deps and api.routers.auth / login; SQL in
api.storage.accounts."""

from api.accounts.roles import LEVELS, ROLES, Principal, Scope

__all__ = ["LEVELS", "ROLES", "Principal", "Scope"]
