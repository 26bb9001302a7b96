"""The store's tables (SQLAlchemy Core). The schema is owned by Alembic migrations generated from this file.

Conventions: every timestamp is a ``UTCDateTime`` (timezone-aware UTC in Python on every database); JSON columns
hold plain dicts and
lists; facts (events, transitions, deal changes, merges) are append-only; current state (pipeline stage, scores,
owner) is a projection that can be rebuilt from the facts.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from funnelbridge.store.types import UTCDateTime

__all__ = [
    "accounts",
    "activity_queue",
    "api_keys",
    "assignments",
    "campaign_costs",
    "campaigns",
    "contacts",
    "deal_changes",
    "deals",
    "events",
    "identities",
    "ingest_owed",
    "merges",
    "metadata",
    "model_versions",
    "nurture_enrollments",
    "outbox",
    "pipeline_states",
    "playbooks",
    "scores",
    "tasks",
    "timers",
    "transitions",
    "users",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Integer primary keys that autoincrement on SQLite (INTEGER) and PostgreSQL (BIGINT identity).
Id = BigInteger().with_variant(Integer(), "sqlite")
TS = UTCDateTime()
Money = Numeric(18, 2)


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


playbooks = Table(
    "playbooks",
    metadata,
    Column("version", String(16), primary_key=True, comment="content hash of the YAML"),
    Column("name", String(200), nullable=False),
    Column("source", Text, nullable=False, comment="the YAML text as loaded"),
    Column("loaded_at", TS, nullable=False),
    Column("activated_at", TS),
    Column("active", Boolean, nullable=False, default=False),
)

users = Table(
    "users",
    metadata,
    _id(),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False, comment="admin | marketing | sales | read_only"),
    Column("team", String(100), nullable=False, default="default"),
    Column("manager_id", Id, ForeignKey("users.id")),
    Column("capacity_per_week", Integer),
    Column("away", Boolean, nullable=False, default=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("password_hash", String(200)),
    Column("created_at", TS, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    _id(),
    Column("external_id", String(200), unique=True),
    Column("domain", String(255), unique=True, comment="normalized company email/web domain"),
    Column("name", String(300)),
    Column("industry", String(100)),
    Column("employees", Integer),
    Column("country", String(2), comment="ISO 3166-1 alpha-2"),
    Column("technologies", JSON, comment="list of technology names"),
    Column("annual_revenue", Money),
    Column("owner_id", Id, ForeignKey("users.id")),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    _id(),
    Column("external_id", String(200), unique=True),
    Column("email", String(320), unique=True, comment="normalized (lower-case, trimmed)"),
    Column("first_name", String(100)),
    Column("last_name", String(100)),
    Column("title", String(200)),
    Column("seniority", String(50), comment="e.g. c_level, vp, director, manager, individual, student"),
    Column("phone", String(50)),
    Column("country", String(2)),
    Column("account_id", Id, ForeignKey("accounts.id"), index=True),
    Column("owner_id", Id, ForeignKey("users.id"), index=True),
    Column("first_source", String(100)),
    Column("first_medium", String(100)),
    Column("first_campaign", String(200)),
    Column("first_touch_at", TS),
    Column("last_source", String(100)),
    Column("last_medium", String(100)),
    Column("last_campaign", String(200)),
    Column("last_touch_at", TS),
    Column("bant_budget", Text),
    Column("bant_authority", Text),
    Column("bant_need", Text),
    Column("bant_timeline", Text),
    Column("unsubscribed", Boolean, nullable=False, default=False),
    Column("bounced", Boolean, nullable=False, default=False),
    Column("properties", JSON, comment="any further imported attributes"),
    Column("merged_into", Id, ForeignKey("contacts.id"), comment="set when this contact was merged away"),
    Column("created_at", TS, nullable=False, comment="when the person first became known (first event)"),
    Column("identified_at", TS, comment="when contact details were first known (visitor -> lead)"),
    Column("updated_at", TS, nullable=False),
    Column("version", Integer, nullable=False, default=1, comment="optimistic lock"),
)

identities = Table(
    "identities",
    metadata,
    Column("anonymous_id", String(200), primary_key=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False, index=True),
    Column("first_seen_at", TS, nullable=False),
    Column("identified_at", TS),
)

campaigns = Table(
    "campaigns",
    metadata,
    _id(),
    Column("key", String(200), nullable=False, unique=True, comment="utm_campaign value"),
    Column("name", String(300), nullable=False),
    Column("channel", String(100), nullable=False, comment="paid_search, linkedin_ads, webinar, organic, ..."),
    Column("source", String(100)),
    Column("medium", String(100)),
    Column("started_on", Date),
    Column("ended_on", Date),
    Column("created_at", TS, nullable=False),
)

campaign_costs = Table(
    "campaign_costs",
    metadata,
    Column("campaign_id", Id, ForeignKey("campaigns.id"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("amount", Money, nullable=False),
    Column("currency", String(3), nullable=False, default="USD"),
)

events = Table(
    "events",
    metadata,
    _id(),
    Column("idempotency_key", String(200), nullable=False),
    Column("contact_id", Id, ForeignKey("contacts.id")),
    Column("anonymous_id", String(200)),
    Column("type", String(100), nullable=False, comment="page_view, form_submit, asset_download, email_open, ..."),
    Column("occurred_at", TS, nullable=False),
    Column("received_at", TS, nullable=False),
    Column("path", String(1000)),
    Column("campaign", String(200), comment="utm_campaign / campaign key"),
    Column("source", String(100)),
    Column("medium", String(100)),
    Column("properties", JSON),
    # a unique index, not a constraint: a first bulk load drops it and builds it after (store.bulkload)
    Index("uq_events_idempotency_key", "idempotency_key", unique=True),
    Index("ix_events_contact_time", "contact_id", "occurred_at"),
    Index("ix_events_type_time", "type", "occurred_at"),
)

pipeline_states = Table(
    "pipeline_states",
    metadata,
    Column("contact_id", Id, ForeignKey("contacts.id"), primary_key=True),
    Column("pipeline", String(100), primary_key=True),
    Column("stage", String(100), nullable=False),
    Column("entered_at", TS, nullable=False),
    Column("journey", Integer, nullable=False, default=1, comment="1 + number of recycles back into the funnel"),
    Column("owner_id", Id, ForeignKey("users.id")),
    Column("last_activity_at", TS),
    Column("version", Integer, nullable=False, default=1, comment="optimistic lock"),
    Index("ix_pipeline_states_stage", "pipeline", "stage"),
)

transitions = Table(
    "transitions",
    metadata,
    _id(),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("pipeline", String(100), nullable=False),
    Column("journey", Integer, nullable=False),
    Column("from_stage", String(100)),
    Column("to_stage", String(100), nullable=False),
    Column("at", TS, nullable=False),
    Column("actor", String(200), nullable=False, comment="user email, or 'system'"),
    Column("actor_role", String(20), nullable=False, comment="system | marketing | sales | admin"),
    Column("reason", String(200)),
    Column("note", Text),
    Column("skipped", JSON, comment="stages passed through without stopping"),
    Column("playbook_version", String(16), nullable=False),
    Column("idempotency_key", String(200), unique=True),
    Column("imported_at", TS, comment="imported moves: when the import wrote them (at is the source's date)"),
    Index("ix_transitions_contact", "contact_id", "pipeline", "at"),
    Index("ix_transitions_to_at", "pipeline", "to_stage", "at"),
)

scores = Table(
    "scores",
    metadata,
    Column("contact_id", Id, ForeignKey("contacts.id"), primary_key=True),
    Column("score_group", String(100), primary_key=True, comment="'main' or a named group"),
    Column("fit", Float, nullable=False),
    Column("engagement", Float, nullable=False),
    Column("negative", Float, nullable=False),
    Column("total", Float, nullable=False),
    Column("grade", String(1), nullable=False),
    Column("temperature", String(10), nullable=False),
    Column("quadrant", String(40), nullable=False),
    Column("mql_eligible", Boolean, nullable=False),
    Column("probability", Float, comment="predictive model probability, when a model is active"),
    Column("model_version", String(40)),
    Column("explanation", JSON, nullable=False),
    Column("as_of", TS, nullable=False),
    Column("playbook_version", String(16), nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("state", JSON, comment="main row: the incremental scorer's state (funnelbridge.scoring.incremental)"),
)

deals = Table(
    "deals",
    metadata,
    _id(),
    Column("external_id", String(200), unique=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), index=True),
    Column("account_id", Id, ForeignKey("accounts.id"), index=True),
    Column("pipeline", String(100), nullable=False, default="main"),
    Column("name", String(300), nullable=False),
    Column("amount", Money, nullable=False),
    Column("currency", String(3), nullable=False, default="USD"),
    Column("stage", String(50), nullable=False, comment="prospecting ... negotiation, closed_won, closed_lost"),
    Column("probability", Float, nullable=False),
    Column("expected_close", Date),
    Column("opened_at", TS, nullable=False),
    Column("closed_at", TS),
    Column("status", String(10), nullable=False, comment="open | won | lost"),
    Column("loss_reason", String(100)),
    Column("competitor", String(200)),
    Column("owner_id", Id, ForeignKey("users.id")),
    Column("version", Integer, nullable=False, default=1),
)

deal_changes = Table(
    "deal_changes",
    metadata,
    _id(),
    Column("deal_id", Id, ForeignKey("deals.id"), nullable=False, index=True),
    Column("from_stage", String(50)),
    Column("to_stage", String(50), nullable=False),
    Column("amount", Money),
    Column("at", TS, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", String(200)),
    Column("idempotency_key", String(200), unique=True),
)

merges = Table(
    "merges",
    metadata,
    _id(),
    Column("survivor_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("merged_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("at", TS, nullable=False),
    Column("reason", String(200), nullable=False),
    Column("snapshot", JSON, nullable=False, comment="what moved, so the merge can be undone"),
    Column("reverted_at", TS),
)

outbox = Table(
    "outbox",
    metadata,
    _id(),
    Column("idempotency_key", String(300), nullable=False, unique=True),
    Column("kind", String(50), nullable=False, comment="email | webhook | task | enroll | move | timer"),
    Column("payload", JSON, nullable=False),
    Column("status", String(20), nullable=False, default="pending", comment="pending | done | dead"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("available_at", TS, nullable=False, comment="not before; retries push it out with backoff"),
    Column("created_at", TS, nullable=False),
    Column("delivered_at", TS),
    Column("locked_by", String(100)),
    Column("locked_until", TS),
    Column("last_error", Text),
    Index("ix_outbox_due", "status", "available_at"),
)

timers = Table(
    "timers",
    metadata,
    _id(),
    Column("key", String(300), nullable=False, unique=True),
    Column("kind", String(50), nullable=False, comment="sla_reminder | sla_breach | nurture_step | recycle ..."),
    Column("contact_id", Id, ForeignKey("contacts.id")),
    Column("deal_id", Id, ForeignKey("deals.id")),
    Column("due_at", TS, nullable=False),
    Column("payload", JSON),
    Column("fired_at", TS),
    Column("cancelled_at", TS),
    Index("ix_timers_due", "fired_at", "cancelled_at", "due_at"),
)
_pending = timers.c.fired_at.is_(None) & timers.c.cancelled_at.is_(None)
Index("ix_timers_pending_key", timers.c.key, postgresql_ops={"key": "text_pattern_ops"},
      postgresql_where=_pending, sqlite_where=_pending)  # fmt: skip  # cancelling by key prefix (migration 0005)

tasks = Table(
    "tasks",
    metadata,
    _id(),
    Column("contact_id", Id, ForeignKey("contacts.id"), index=True),
    Column("owner_id", Id, ForeignKey("users.id")),
    Column("title", String(300), nullable=False),
    Column("due_at", TS, nullable=False),
    Column("done_at", TS),
    Column("created_at", TS, nullable=False),
    Column("idempotency_key", String(300), unique=True),
)

assignments = Table(
    "assignments",
    metadata,
    _id(),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False, index=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("team", String(100), nullable=False),
    Column("method", String(30), nullable=False, comment="round_robin | least_loaded | account_owner | manual"),
    Column("at", TS, nullable=False),
    Column("playbook_version", String(16), nullable=False),
    Index("ix_assignments_team_at", "team", "at"),
    Index("ix_assignments_user_at", "user_id", "at"),
)

nurture_enrollments = Table(
    "nurture_enrollments",
    metadata,
    _id(),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("track", String(100), nullable=False),
    Column("step", Integer, nullable=False, default=0),
    Column("enrolled_at", TS, nullable=False),
    Column("next_step_at", TS),
    Column("removed_at", TS),
    Column("completed_at", TS),
    UniqueConstraint("contact_id", "track", "enrolled_at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False, unique=True, comment="shown to identify the key"),
    Column("key_hash", String(128), nullable=False),
    Column("role", String(20), nullable=False, comment="admin | marketing | sales | read_only | ingest"),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
)

activity_queue = Table(
    "activity_queue",
    metadata,
    Column("contact_id", Id, ForeignKey("contacts.id"), primary_key=True),
    Column("queued_at", TS, nullable=False, comment="first activity not yet scored and advanced"),
    Index("ix_activity_queue_queued", "queued_at", "contact_id"),  # the drain claims the oldest first
)

ingest_owed = Table(
    "ingest_owed",
    metadata,
    Column("from_event_id", Id, primary_key=True, autoincrement=False, comment="first event of the owed stretch"),
    Column("queued_at", TS, comment="queue the stretch's contacts for scoring at this time; NULL: do not"),
    comment="events imports' attribution (and follow-up queue) not applied yet: funnelbridge.ingest.owed",
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("version", String(40), primary_key=True),
    Column("target", String(50), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("path", String(1000), nullable=False),
    Column("active", Boolean, nullable=False, default=False),
)
