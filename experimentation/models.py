"""Table models. Request and response schemas live in web/schemas.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always read back timezone-aware.

    SQLite keeps no offset, so without this a value written aware comes back
    naive and comparisons between the two raise.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Any
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; pass an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: datetime | None, dialect: Any
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it as is)
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: UTCDateTime,
    }


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(String(128), unique=True)
    title: Mapped[str] = mapped_column(String(512), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(128))
    subcategory: Mapped[str | None] = mapped_column(String(128))
    brand: Mapped[str | None] = mapped_column(String(128))
    price: Mapped[float | None] = mapped_column(Float)
    rating: Mapped[float | None] = mapped_column(Float)
    published_at: Mapped[datetime | None] = mapped_column()
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ItemEmbedding(Base):
    """One item's vector in one embedding space, computed once and reused.

    Rows are keyed by the space (a text embedder's key, or "image") and the
    catalogue's item id; a new vector for an item replaces its old one, so a key
    holds at most one vector per item (experimentation/embedding_store.py).
    """

    __tablename__ = "item_embeddings"

    embedder_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    # No foreign key to items: SQLite's batch migrations rebuild a table by
    # dropping it, and a cascade from items would then empty this one.
    item_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    text_sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the text the vector was computed from (of the vector's bytes
    for an image vector): a stored text vector counts only while it matches."""
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    """float32, little-endian, `dim` of them."""
    created_at: Mapped[datetime] = mapped_column()


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), unique=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column()


EVENT_VALUE_COLUMNS = ["type", "value", "dwell_seconds", "request_id"]


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        # On PostgreSQL the index carries what the per-user report query reads,
        # so recomputing a few users' values never visits the table.
        Index(
            "ix_events_user_occurred",
            "user_id",
            "occurred_at",
            postgresql_include=EVENT_VALUE_COLUMNS,
        ),
        Index("ix_events_request", "request_id"),
        Index("ix_events_type_occurred", "type", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    user_id: Mapped[str] = mapped_column(String(128))
    item_id: Mapped[str | None] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float)
    dwell_seconds: Mapped[float | None] = mapped_column(Float)
    session_id: Mapped[str | None] = mapped_column(String(128))
    request_id: Mapped[str | None] = mapped_column(String(64))
    query: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column()


class Experiment(Base):
    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    hypothesis: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    salt: Mapped[str] = mapped_column(String(64))
    sample_size: Mapped[int] = mapped_column(Integer)
    minimum_duration_seconds: Mapped[int] = mapped_column(Integer)
    traffic: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    """Share of users enrolled (0 to 1); ramped up while the experiment runs."""
    metrics: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    stopped_at: Mapped[datetime | None] = mapped_column()

    variants: Mapped[list[Variant]] = relationship(
        back_populates="experiment",
        order_by="Variant.position",
        cascade="all, delete-orphan",
    )


class Variant(Base):
    __tablename__ = "variants"
    __table_args__ = (UniqueConstraint("experiment_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(256), default="")
    position: Mapped[int] = mapped_column(Integer)
    weight: Mapped[float] = mapped_column(Float)
    recommender: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)

    experiment: Mapped[Experiment] = relationship(back_populates="variants")


class Exposure(Base):
    __tablename__ = "exposures"
    __table_args__ = (
        Index("ix_exposures_experiment_user", "experiment_id", "user_id", "served_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    variant_id: Mapped[int] = mapped_column(
        ForeignKey("variants.id", ondelete="CASCADE")
    )
    user_id: Mapped[str] = mapped_column(String(128))
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    page: Mapped[str] = mapped_column(String(64), default="home")
    items: Mapped[list[Any]] = mapped_column(default=list)
    from_cache: Mapped[bool] = mapped_column(Boolean, default=False)
    served_at: Mapped[datetime] = mapped_column()
    # Quality of the served list (recommenders/list_quality.py), for guardrails.
    category_entropy: Mapped[float | None] = mapped_column(Float)
    fresh_share: Mapped[float | None] = mapped_column(Float)
    mean_popularity_rank: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    """Time to produce the list, from assignment to the list being ready."""


class Account(Base):
    """A person who signs in to the web app (app end users live in `users`)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    role: Mapped[str] = mapped_column(String(16))
    """viewer (reads), editor (defines and runs experiments), admin (users, keys)."""
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column()


class WebSession(Base):
    """A signed-in browser; the cookie holds a token, the table only its hash."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()


class ApiKey(Base):
    """A key for an app or an analyst; only the SHA-256 of the secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))
    """The key's first characters, shown so that people can tell keys apart."""
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class AuditEntry(Base):
    """Who did what to which thing, and when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


# The per-user values analysis/metrics.py computes for a report, in the order
# of its per-user query: after first exposure (y) and before it (x).
USER_VALUE_COLUMNS = (
    "click_through_rate__yn",
    "click_through_rate__yd",
    "click_through_rate__xn",
    "click_through_rate__xd",
    "conversion__y",
    "conversion__x",
    "revenue_per_user__y",
    "revenue_per_user__x",
    "avg_session_duration__y",
    "avg_session_duration__x",
    "diversity__y",
    "freshness__y",
    "novelty__y",
    "serving_latency_ms__y",
)

experiment_user_values = Table(
    "experiment_user_values",
    Base.metadata,
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", String(128), primary_key=True),
    # NULL for a user exposed to more than one variant (excluded, but counted).
    Column("variant_id", Integer),
    *(Column(name, Float) for name in USER_VALUE_COLUMNS),
)
"""One row per exposed user of an experiment: that user's metric values, kept
up to date by analysis/user_values.py so that a report reads users, not events."""


class UserValuesState(Base):
    """What an experiment's stored per-user values were computed from."""

    __tablename__ = "experiment_user_values_state"

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    started_at: Mapped[datetime] = mapped_column()
    """The run the values belong to; another start means a rebuild."""
    pre_start: Mapped[datetime] = mapped_column()
    """Earliest event counted towards the pre-exposure (CUPED) values."""
    window_end: Mapped[datetime] = mapped_column()
    """Latest event time the values include."""
    event_watermark: Mapped[int] = mapped_column(BigInteger)
    """Every event with an id up to this one is in the values."""
    exposure_watermark: Mapped[int] = mapped_column(BigInteger)
    """Every exposure with an id up to this one is in the values."""
    refreshed_at: Mapped[datetime] = mapped_column()


class TrendPoint(Base):
    """An experiment's cumulative metric values at the end of a day that has
    closed, counted once (analysis/trend_points.py) for the report's trends."""

    __tablename__ = "experiment_trend_points"

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    ends_at: Mapped[datetime] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column()
    """The run the point belongs to; a point of an earlier run is ignored."""
    values: Mapped[dict[str, Any]] = mapped_column()
    """metric -> variant key -> value (null where a variant has none)."""
    computed_at: Mapped[datetime] = mapped_column()
