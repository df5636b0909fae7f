"""Serving a recommendation: assign the user, reuse or compute the variant's
list, and log what was served as an exposure."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from experimentation.assignment import assign, enrolled
from experimentation.cache import RecommendationCache
from experimentation.embedding_store import fit_with_stored_vectors
from experimentation.experiments import on_change, running_experiment
from experimentation.models import Experiment, Exposure, Variant
from experimentation.snapshot import load_catalog, load_history, load_interactions
from recommenders import registry
from recommenders.base import Recommender
from recommenders.data import Catalog, InteractionLog
from recommenders.list_quality import ListQualityMeter
from recommenders.weights import ProfileWeights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedList:
    request_id: str
    experiment: str
    variant: str
    items: list[dict[str, Any]]
    from_cache: bool
    fallback: bool
    enrolled: bool = True
    """False outside the ramped share: the control's list, no exposure logged."""


@dataclass
class _Snapshot:
    catalog: Catalog
    interactions: InteractionLog
    quality: ListQualityMeter
    models: dict[str, Recommender] = field(default_factory=dict)
    configs: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


class ModelStore:
    """Fitted models per recommender config, over one snapshot of the data.

    The snapshot is read on first use and again on refresh(); a user's own
    history is always read live, so their latest events count at once.
    """

    def __init__(self, engine: Engine, weights: ProfileWeights) -> None:
        self.engine = engine
        self.weights = weights
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is None:
            with self._lock:
                if self._snapshot is None:
                    self._snapshot = self._load()
                snapshot = self._snapshot
        return snapshot

    def refresh(self) -> None:
        """Reload the data and refit every model in use, then swap them in.

        Requests keep using the old snapshot until the swap, so a refresh
        never blocks serving.
        """
        started = time.perf_counter()
        fresh = self._load()
        in_use = dict(self._snapshot.configs) if self._snapshot else {}
        for key, (recommender, params) in in_use.items():
            fresh.models[key] = self._fit(fresh, recommender, params)
            fresh.configs[key] = (recommender, params)
        with self._lock:
            self._snapshot = fresh
        log.info(
            "models refreshed",
            extra={
                "models": len(in_use),
                "events": len(fresh.interactions),
                "seconds": round(time.perf_counter() - started, 2),
            },
        )

    def start_refreshing(self, interval_seconds: float) -> threading.Event:
        """Refresh in a background thread every interval; set the event to stop."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval_seconds):
                try:
                    self.refresh()
                except Exception:  # keep serving the old snapshot
                    log.exception("model refresh failed; keeping the old models")

        threading.Thread(target=loop, name="model-refresh", daemon=True).start()
        return stop

    def _load(self) -> _Snapshot:
        with Session(self.engine) as session:
            catalog = load_catalog(session)
            interactions = load_interactions(session, catalog, self.weights)
        return _Snapshot(
            catalog=catalog,
            interactions=interactions,
            quality=ListQualityMeter(catalog, interactions),
        )

    def _fit(
        self, snapshot: _Snapshot, recommender: str, params: dict[str, Any]
    ) -> Recommender:
        # Item text vectors come from the database when stored, and the ones
        # computed are stored, so a restart or refresh embeds only new texts.
        return fit_with_stored_vectors(
            self.engine,
            registry.build(recommender, params),
            snapshot.catalog,
            snapshot.interactions,
        )

    def model(self, recommender: str, params: dict[str, Any]) -> Recommender:
        snapshot = self.snapshot()
        key = registry.config_key(recommender, params)
        model = snapshot.models.get(key)
        if model is None:
            with self._lock:
                model = snapshot.models.get(key)
                if model is None:
                    started = time.perf_counter()
                    model = self._fit(snapshot, recommender, params)
                    snapshot.models[key] = model
                    snapshot.configs[key] = (recommender, dict(params))
                    log.info(
                        "model fitted",
                        extra={
                            "recommender": key,
                            "seconds": round(time.perf_counter() - started, 2),
                        },
                    )
        return model


class RunningExperiments:
    """Running experiments by key, reread at most every `ttl` seconds.

    Spares two queries per request; a start or stop reaches serving within
    the TTL (exposures after a stop fall outside the analysis window anyway).
    """

    def __init__(self, ttl: float = 1.0) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Experiment]] = {}
        on_change(self.forget)

    def running(self, session: Session, key: str) -> Experiment:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        experiment = running_experiment(session, key=key)
        session.expunge(experiment)  # with its variants, by cascade
        self._entries[key] = (time.monotonic() + self.ttl, experiment)
        return experiment

    def forget(self, key: str) -> None:
        """Drop a cached experiment at once (this process started or stopped it)."""
        self._entries.pop(key, None)


class RecommendationService:
    def __init__(
        self,
        store: ModelStore,
        cache: RecommendationCache,
        weights: ProfileWeights,
        experiment_ttl: float = 1.0,
    ) -> None:
        self.store = store
        self.cache = cache
        self.weights = weights
        self.experiments = RunningExperiments(experiment_ttl)

    def recommend(
        self,
        session: Session,
        *,
        experiment_key: str,
        user_id: str,
        k: int,
        page: str,
        now: datetime,
    ) -> ServedList:
        started = time.perf_counter()
        experiment = self.experiments.running(session, experiment_key)
        in_experiment = enrolled(
            experiment.salt, experiment.key, user_id, experiment.traffic
        )
        variant = (
            assigned_variant(experiment, user_id)
            if in_experiment
            else experiment.variants[0]
        )
        # The start time tells runs of one key apart (a stopped experiment never
        # restarts): a deleted and recreated experiment must never be served
        # lists cached for its predecessor.
        run = experiment.started_at.timestamp() if experiment.started_at else 0
        scope = f"{experiment.key}:{run}:{variant.key}:{page}:{k}"
        entry = self.cache.get(user_id, scope)
        from_cache = entry is not None
        if entry is None:
            entry = self._compute(session, variant, user_id, k)
            self.cache.put(user_id, scope, entry)
        request_id = uuid.uuid4().hex
        if not in_experiment:
            return ServedList(
                request_id=request_id,
                experiment=experiment.key,
                variant=variant.key,
                items=entry["items"],
                from_cache=from_cache,
                fallback=bool(entry.get("fallback")),
                enrolled=False,
            )
        quality = entry.get("quality") or {}
        if session.get_bind().dialect.name == "postgresql":
            # An exposure row need not wait for the WAL flush: a database
            # crash could lose the last fraction of a second of exposures, but
            # never corrupt them, and serving skips a disk sync per request.
            session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        session.add(
            Exposure(
                experiment_id=experiment.id,
                variant_id=variant.id,
                user_id=user_id,
                request_id=request_id,
                page=page,
                items=entry["items"],
                from_cache=from_cache,
                served_at=now,
                category_entropy=quality.get("category_entropy"),
                fresh_share=quality.get("fresh_share"),
                mean_popularity_rank=quality.get("mean_popularity_rank"),
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
            )
        )
        return ServedList(
            request_id=request_id,
            experiment=experiment.key,
            variant=variant.key,
            items=entry["items"],
            from_cache=from_cache,
            fallback=bool(entry.get("fallback")),
        )

    def _compute(
        self, session: Session, variant: Variant, user_id: str, k: int
    ) -> dict[str, Any]:
        model = self.store.model(variant.recommender, variant.params)
        snapshot = self.store.snapshot()
        history = load_history(
            session,
            user_id=user_id,
            catalog=snapshot.catalog,
            interactions=snapshot.interactions,
            weights=self.weights,
        )
        result = model.recommend(history, k)
        item_ids = snapshot.catalog.item_ids
        items = [
            {"item_id": item_ids[int(i)], "score": round(float(s), 6), "position": p}
            for p, (i, s) in enumerate(
                zip(result.item_index, result.scores, strict=True), start=1
            )
        ]
        quality = snapshot.quality.measure(result.item_index)
        return {
            "items": items,
            "fallback": result.fallback,
            "quality": asdict(quality) if quality else None,
        }

    def invalidate(self, user_ids: set[str]) -> None:
        for user_id in user_ids:
            self.cache.invalidate_user(user_id)


def assigned_variant(experiment: Experiment, user_id: str) -> Variant:
    variants = experiment.variants
    index = assign(
        experiment.salt, experiment.key, user_id, [v.weight for v in variants]
    )
    return variants[index]
