"""What a profile says: contact routes, phone numbers, services sold, a borrowed name.

A scam account announces itself in its profile ("Account recovery expert, WhatsApp
+1 555 ..."); an impersonator borrows a brand's or a well-known account's display name
while its handle is not theirs. Every list and pattern comes from the policy (accounts
section, and `lists.impersonated_brands` for brands and their real domains). Texts are read
through `canonical.fingerprint_text`, the same folding the post signals use, so lookalike
letters, invisible characters and spaced-out words match like the plain spelling.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from functools import cached_property

from fraud_pipeline.policy.schema import AccountsSpec, PolicySpec
from fraud_pipeline.scoring.canonical import fingerprint_text, tables

_NON_WORD = re.compile(r"[\W_]+")
_BORROWED_CACHE = 65_536  # display names whose borrowed owner is kept; cleared when full


@dataclass(frozen=True, slots=True)
class ProfileFindings:
    """The profile signals of one account (from its latest profile and handle)."""

    contact: bool = False
    phone: bool = False
    services: bool = False
    impersonates: str | None = None  # the brand or account whose name it borrows
    text_likelihood: float | None = None  # the text model's score of the profile text (if read)


def _words(text: str) -> list[str]:
    return [w for w in _NON_WORD.split(fingerprint_text(text)) if w]


def _forms(term: str) -> tuple[str, ...]:
    """A list term as `fingerprint_text` may render it: text that is not all ASCII is read as
    its UTS #39 skeleton (`m` -> `rn`), so a term is looked for in both spellings."""
    plain = fingerprint_text(term)
    skeleton = unicodedata.normalize("NFD", plain).translate(tables().skeleton_letters).lower()
    return (plain,) if skeleton == plain else (plain, skeleton)


class ProfileRules:
    """The policy's profile lists, folded once; `findings` judges one profile."""

    def __init__(self, accounts: AccountsSpec, brands: dict[str, list[str]]) -> None:
        self.spec = accounts
        self.contact_routes = tuple(f for t in accounts.contact_routes for f in _forms(t))
        self.service_terms = tuple(f for t in accounts.service_terms for f in _forms(t))
        self.phone = re.compile(accounts.phone_pattern)
        self.role_words = frozenset(f for t in accounts.name_role_words for w in _words(t) for f in _forms(w))
        # folded name (no spaces) -> (display form, handles/domains that are really theirs)
        owners: dict[str, tuple[str, tuple[str, ...]]] = {}
        for brand, domains in brands.items():
            for form in _forms("".join(_words(brand))):
                owners[form] = (brand, tuple(d.lower() for d in domains))
        for name, handles in accounts.known_accounts.items():
            for form in _forms("".join(_words(name))):
                owners[form] = (name, tuple(h.lower() for h in handles))
        self.owners = {k: v for k, v in owners.items() if len(k) >= 3}
        self._borrowed: dict[str, tuple[str, tuple[str, ...]] | None] = {}

    @classmethod
    def from_policy(cls, spec: PolicySpec) -> ProfileRules:
        if spec.accounts is None:
            raise ValueError("the policy has no accounts section (policy/accounts.yaml)")
        return cls(spec.accounts, spec.lists.impersonated_brands)

    @cached_property
    def _empty(self) -> ProfileFindings:
        return ProfileFindings()

    def findings(
        self, display_name: str | None, description: str | None, handle: str | None
    ) -> ProfileFindings:
        """Everything the profile and handle say (`said` and `impersonated` together)."""
        found = self.said(display_name, description)
        impersonates = self.impersonated(display_name, handle)
        if impersonates is None:
            return found
        return replace(found, impersonates=impersonates)

    def said(self, display_name: str | None, description: str | None) -> ProfileFindings:
        """What the profile text says by itself (contact routes, phone, services): no
        impersonation, which depends on the handle at verdict time."""
        text = fingerprint_text(f"{display_name or ''}\n{description or ''}")
        if not text.strip():
            return self._empty
        return ProfileFindings(
            contact=any(route in text for route in self.contact_routes),
            phone=self.phone.search(text) is not None,
            services=any(term in text for term in self.service_terms),
        )

    def impersonated(self, display_name: str | None, handle: str | None) -> str | None:
        """The brand/account whose name this is, when the handle is not one of theirs.

        The name must be the borrowed name plus only role words ("MetaMask Support"), so a
        person mentioning a brand in their name ("Jane on Bluesky") is not caught.
        """
        if not display_name:
            return None
        owner = self.borrowed(display_name)
        if owner is None:
            return None
        name, theirs = owner
        if handle and any(handle == h or handle.endswith("." + h) for h in theirs):
            return None
        return name

    def borrowed(self, display_name: str) -> tuple[str, tuple[str, ...]] | None:
        """The brand or known account (name, handles/domains that are really theirs) this
        display name is, whatever the handle. Kept per name (bounded): a profile's name is read
        when the profile is stored and again each time its account is judged."""
        owners = self._borrowed
        if display_name in owners:
            return owners[display_name]
        if len(owners) >= _BORROWED_CACHE:
            owners.clear()
        words = [w for w in _words(display_name) if w not in self.role_words]
        owner = owners[display_name] = self.owners.get("".join(words))
        return owner
