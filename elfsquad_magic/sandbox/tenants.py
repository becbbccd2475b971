"""The tenants of a sandbox: each with its own client credentials, SCIM token and store, and the
Data, SCIM, Quotation and Configurator APIs over that store.

As at Elfsquad, one host serves many tenants and the token says which: a token issued to one
tenant's client reads and writes that tenant only (:class:`.TokenIssuer` remembers whose it is).
"""

from __future__ import annotations

import contextlib
import copy
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass, field
from functools import partial

import orjson

from .configurator_api import ConfiguratorApi
from .dataapi import DataApi
from .ledger import Ledger
from .metadata import EntitySetSpec, ServiceSpec, load_service
from .quotationapi import QuotationApi
from .scim import ScimApi
from .seed import generate_tenant
from .seed_cache import cached_seed, copy_seed, keep_seed
from .seed_quotations import SALES_SETS
from .store import Store
from .tenant_stream import stream_tenant_apart
from .tokens import DEFAULT_TENANT
from .values import utc_now_text

__all__ = ["DEFAULT_TENANT", "MEMORY_MAX_SCALE", "Tenant", "TenantSpec", "seed_store"]

# Seeded databases of small tenants, copied into each new sandbox: tests start many sandboxes.
_TEMPLATES: dict[tuple[int, int], Store] = {}
_TEMPLATES_LOCK = threading.Lock()
_TEMPLATE_MAX_SCALE = 2
MEMORY_MAX_SCALE = 40
"""Above this scale a tenant's store is a temporary file rather than memory (40: about 0.9 GB)."""


def seed_store(store: Store, scale: int, seed: int) -> None:
    """Fill an empty store with the tenant of (scale, seed)."""
    if scale > _TEMPLATE_MAX_SCALE:
        store.load_stream(stream_tenant_apart(scale, seed), interleaved=SALES_SETS)
        return
    with _TEMPLATES_LOCK:
        template = _TEMPLATES.get((scale, seed))
        if template is None:
            template = Store(store.service)
            template.load(generate_tenant(scale, seed))
            _TEMPLATES[(scale, seed)] = template
    store.copy_from(template)


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class TenantSpec:
    """A tenant to serve: its name, its client's credentials, its SCIM token and its seed
    (another ``seed`` gives another catalogue, customers and quotations)."""

    name: str
    client_id: str
    client_secret: str = field(default_factory=_new_secret, repr=False)
    scim_token: str = field(default_factory=_new_secret, repr=False)
    scale: int = 1
    seed: int = 42


class Tenant:
    """A running tenant: its store and the APIs over it (``db``: a SQLite file to keep it in)."""

    def __init__(self, spec: TenantSpec, page_size: int, db: str | None = None) -> None:
        self.spec = spec
        self._scratch: str | None = None
        # The copy of a freshly seeded store being kept for the next start, made while the
        # tenant already serves: set once that copy is over (None: no copy to make).
        self._kept: threading.Event | None = None
        self._stop_keeping = threading.Event()
        # A copy of its own: add_property changes this tenant's schema, not every tenant's.
        service: ServiceSpec = copy.deepcopy(load_service())
        if db is None and spec.scale > MEMORY_MAX_SCALE:
            # A large tenant lives in a file of its own (removed at close): in memory, scale
            # 200 would take about 4 GB; from a file only SQLite's page cache stays resident.
            store = self._scratch_store(service)
        else:
            store = Store(service, db)
            if store.fresh:
                seed_store(store, spec.scale, spec.seed)
        self.store = store
        self.api = DataApi(service, store, page_size)
        self.scim = ScimApi(store, service.sets["Users"], spec.scim_token)
        ledger = Ledger(service, store)
        self.quotation = QuotationApi(ledger)
        self.configurator = ConfiguratorApi(ledger)
        self.files: list[dict] = []  # uploaded with the Quotation API's addfile

    def _scratch_store(self, service: ServiceSpec) -> Store:
        """The tenant's store in a temporary file, copied from the kept seed or seeded (and
        kept); interrupted at any point, the file goes too."""
        spec = self.spec
        store: Store | None = None
        handle, self._scratch = tempfile.mkstemp(prefix="elfsquad-sandbox-", suffix=".db")
        try:
            os.close(handle)
            # Seeded once by this code and kept: a copy of the file takes seconds, not minutes.
            kept = cached_seed(spec.scale, spec.seed)
            if kept is not None:
                copy_seed(kept, self._scratch)
            store = Store(service, self._scratch, scratch=True)
            if store.fresh:
                seed_store(store, spec.scale, spec.seed)
                self._keep_in_background(store)
        except BaseException:
            if store is not None:
                store.close()
            self._remove_scratch()
            raise
        return store

    def _keep_in_background(self, store: Store) -> None:
        """Keep a copy of the new seed while the tenant serves (seconds at scale 200). Writes
        are paused from now, so the copy is of the seed as made whatever a client asks first;
        reads go on."""
        store.pause_writes()
        save = partial(store.save_to, stop=self._stop_keeping)
        kept = threading.Event()

        def keep() -> None:
            try:
                keep_seed(save, self.spec.scale, self.spec.seed)
            finally:
                store.resume_writes()
                kept.set()

        try:
            threading.Thread(target=keep, name="keep-seed").start()
        except BaseException:
            store.resume_writes()
            raise
        self._kept = kept

    def __repr__(self) -> str:
        # Never the secret or the SCIM token: reprs end up in notebooks and logs.
        return f"<Tenant {self.name!r} client_id={self.client_id!r} seed={self.spec.seed}>"

    @property
    def name(self) -> str:
        """The tenant's name in this sandbox."""
        return self.spec.name

    @property
    def client_id(self) -> str:
        """The id of the tenant's API client."""
        return self.spec.client_id

    @property
    def client_secret(self) -> str:
        """The secret of the tenant's API client."""
        return self.spec.client_secret

    @property
    def scim_token(self) -> str:
        """The bearer token the tenant's SCIM API accepts."""
        return self.spec.scim_token

    def close(self) -> None:
        """Close the store (and remove its temporary file) once the copy of its seed being
        kept is complete; interrupted meanwhile (Ctrl-C), the copy is not kept."""
        try:
            self._finish_keeping()
        finally:
            self.store.close()
            self._remove_scratch()

    @property
    def keeping_seed(self) -> bool:
        """Whether the copy of this tenant's new seed for the next start is still being made."""
        return self._kept is not None and not self._kept.is_set()

    def stop_keeping(self) -> None:
        """Stop the copy of the new seed (none is kept: the next start seeds again)."""
        self._stop_keeping.set()

    def _finish_keeping(self) -> None:
        # An Event, not Thread.join: on Python before 3.13 a join cut short by Ctrl-C can
        # mark the thread as ended while it runs, and the interpreter then exits without
        # waiting for it, leaving the half copy behind.
        if self._kept is None:
            return
        try:
            self._kept.wait()
        except BaseException:
            self.stop_keeping()  # the half copy goes with it (keep_seed removes it)
            self._kept.wait()
            raise

    def _remove_scratch(self) -> None:
        if self._scratch is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._scratch)
            self._scratch = None

    def spec_of(self, entity_set: str) -> EntitySetSpec:
        """The set named ``entity_set`` in any casing; KeyError when there is none."""
        spec = self.store.service.find(entity_set)
        if spec is None:
            raise KeyError(entity_set)
        return spec

    def rows(self, entity_set: str) -> list[dict]:
        """Current rows of a set (any casing), straight from the store, ordered by key."""
        return self.store.rows(self.spec_of(entity_set))

    def add_property(
        self, entity_set: str, name: str, edm_type: str = "Edm.String", value: object = None
    ) -> None:
        """Add a property to a set (a new release of the service): ``$metadata`` shows it and
        every row carries ``value``, without touching any row's ``updatedDate``."""
        self.store.add_property(self.spec_of(entity_set), name, edm_type, value)
        self.api.schema_changed()

    def commit_late(self, entity_set: str, key: object, changes: dict, seconds_ago: float) -> None:
        """Write ``changes`` to one row stamped ``seconds_ago`` in the past: a transaction that
        took its ``updatedDate`` before it committed, so readers in between missed it."""
        spec = self.spec_of(entity_set)
        raw = self.store.get(spec, key)
        if raw is None:
            raise KeyError(key)
        row = {**orjson.loads(raw), **changes}
        row["updatedDate"] = utc_now_text(seconds_ago)
        self.store.replace_rows(spec, [row])
