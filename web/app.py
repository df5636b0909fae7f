"""The FastAPI application factory."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqlalchemy import Engine

from experimentation.cache import make_cache
from experimentation.db import engine_for, migrate, session_factory
from experimentation.ingest import EventQueue, EventWriter, make_queue
from experimentation.serving import ModelStore, RecommendationService
from experimentation.settings import Settings, get_settings
from recommenders.weights import ProfileWeights
from web import errors, pages, security
from web.routes import events, experiments, recommendations
from web.state import AppState, Clock, utc_now
from web.throttle import SignInThrottle

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock = utc_now,
    run_migrations: bool = True,
) -> FastAPI:
    settings = settings or get_settings()
    engine = engine_for(settings.database_url)
    if run_migrations:
        migrate(engine)
    weights = ProfileWeights()
    service = RecommendationService(
        ModelStore(engine, weights),
        make_cache(
            settings.redis_url,
            settings.cache_ttl_seconds,
            settings.redis_timeout_seconds,
            settings.cache_prefix,
        ),
        weights,
    )
    event_queue, writer = _event_path(settings, engine, service)
    if settings.model_refresh_seconds > 0:
        service.store.start_refreshing(settings.model_refresh_seconds)
    app = FastAPI(
        title="splitrec",
        summary="A/B experiments for recommender systems",
        version="0.1.0",
    )
    app.state.sign_in_throttle = SignInThrottle()
    app.state.splitrec = AppState(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        service=service,
        clock=clock,
        events=event_queue,
        writer=writer,
    )
    errors.install(app)
    errors.install_failure_handlers(app)
    app.add_middleware(errors.BodySizeLimit, limit=settings.max_body_bytes)
    security.install(app)
    app.include_router(recommendations.router)
    app.include_router(events.router)
    app.include_router(experiments.router)
    pages.install(app)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _event_path(
    settings: Settings, engine: Engine, service: RecommendationService
) -> tuple[EventQueue | None, EventWriter | None]:
    if settings.event_queue == "sync":
        return None, None
    queue = make_queue(settings.redis_url, settings.event_stream)
    writer = EventWriter(engine, queue, service.invalidate)
    if settings.start_event_writer:
        writer.start_thread()
    return queue, writer
