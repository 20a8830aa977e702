"""The relational model: sites, the catalogue, configurations, users and the audit trail.

Consent records are not here: they belong to the ledger library, ``consent_logs``.
"""
from __future__ import annotations

import enum
from datetime import date, datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent_logs.ledger import Ledger
from consent_logs.schema import ledger_tables
from cmp_server.platform.extensions import db

JSONDocument = JSON().with_variant(JSONB(), "postgresql")

MAX_CONSENT_LIFETIME_MONTHS = 13  # TCF's reminder ceiling, CNIL's cap for audience measurement
DEFAULT_CONSENT_LIFETIME_MONTHS = 12
DEFAULT_REFUSAL_LIFETIME_MONTHS = 6  # CNIL practice: do not ask again for six months


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Role(str, enum.Enum):
    """A member's role in a workspace. (The operator, the platform's own admin, is a flag
    on the user: it manages workspaces and users and acts as an admin everywhere.)"""

    ADMIN = "admin"
    MARKETER = "marketer"
    COMPLIANCE = "compliance"


OPERATOR = "operator"  # the platform's own admin: not a workspace role


class Workspace(db.Model):
    """An agency or a company: its sites, its custom vendors, its members."""

    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Membership(db.Model):
    """A user's role in one workspace."""

    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'marketer', 'compliance')", name="role"),
    )

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))

    workspace: Mapped[Workspace] = relationship()
    user: Mapped[User] = relationship(back_populates="memberships")


class ImmutableRowError(RuntimeError):
    """Raised when code tries to change a row that is append-only by design."""


class Site(db.Model):
    __tablename__ = "sites"
    __table_args__ = (
        CheckConstraint(
            f"consent_lifetime_months BETWEEN 1 AND {MAX_CONSENT_LIFETIME_MONTHS}",
            name="consent_lifetime",
        ),
        CheckConstraint(
            f"refusal_lifetime_months BETWEEN 1 AND {MAX_CONSENT_LIFETIME_MONTHS}",
            name="refusal_lifetime",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    default_language: Mapped[str] = mapped_column(String(8), default="en")
    consent_lifetime_months: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_CONSENT_LIFETIME_MONTHS
    )
    refusal_lifetime_months: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_REFUSAL_LIFETIME_MONTHS
    )
    # The data controller the banner names (GDPR Art. 13): {name, address, country, email,
    # phone}; with the privacy policy URL it is required before a version can be published.
    controller: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    privacy_policy_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    workspace: Mapped[Workspace] = relationship()
    origins: Mapped[list[SiteOrigin]] = relationship(
        back_populates="site", cascade="all, delete-orphan", order_by="SiteOrigin.origin"
    )
    draft: Mapped[DraftConfig | None] = relationship(
        back_populates="site", cascade="all, delete-orphan", uselist=False
    )
    versions: Mapped[list[ConfigVersion]] = relationship(
        back_populates="site", order_by="ConfigVersion.number"
    )

    @property
    def origin_list(self) -> list[str]:
        return sorted(o.origin for o in self.origins)


class SiteOrigin(db.Model):
    """An origin (scheme://host[:port]) allowed to embed the banner and post consents."""

    __tablename__ = "site_origins"
    __table_args__ = (UniqueConstraint("site_id", "origin"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    origin: Mapped[str] = mapped_column(String(255))

    site: Mapped[Site] = relationship(back_populates="origins")


class Purpose(db.Model):
    __tablename__ = "purposes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    document: Mapped[dict] = mapped_column(JSONDocument)
    content_hash: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


vendor_purposes = db.Table(
    "vendor_purposes",
    db.Column("vendor_id", ForeignKey("vendors.id", ondelete="CASCADE"), primary_key=True),
    db.Column("purpose_id", ForeignKey("purposes.id"), primary_key=True),
)


class Vendor(db.Model):
    """A catalogue entry. ``document`` is the validated data file; the columns beside it
    are what queries filter on."""

    __tablename__ = "vendors"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    legal_basis: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default="catalogue")  # or "custom"
    # a custom vendor's workspace; catalogue vendors (None) are everyone's
    workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspaces.id"), nullable=True, index=True)
    document: Mapped[dict] = mapped_column(JSONDocument)
    content_hash: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    purposes: Mapped[list[Purpose]] = relationship(secondary=vendor_purposes)


class DraftConfig(db.Model):
    """What a marketer edits. Publishing freezes it into a ConfigVersion."""

    __tablename__ = "draft_configs"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    # Purposes shown even when no chosen vendor declares them (e.g. first-party features).
    extra_purposes: Mapped[list] = mapped_column(JSONDocument, default=list)
    texts: Mapped[dict] = mapped_column(JSONDocument, default=dict)  # {lang: {key: text}}
    theme: Mapped[dict] = mapped_column(JSONDocument, default=dict)  # CSS custom properties
    region_rules: Mapped[dict] = mapped_column(JSONDocument, default=dict)  # {region: mode}
    # {mode, ads_data_redaction, url_passthrough}: cmp_server.sites.google_consent_mode
    google_consent_mode: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    # {enabled, vendors, google_atps}: cmp_server.sites.tcf ({} is off)
    tcf: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    site: Mapped[Site] = relationship(back_populates="draft")
    vendors: Mapped[list[DraftVendor]] = relationship(
        cascade="all, delete-orphan", order_by="DraftVendor.position"
    )


class DraftVendor(db.Model):
    """A vendor on a site's draft, with the site's retention tier for tiered vendors."""

    __tablename__ = "draft_vendors"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("draft_configs.site_id", ondelete="CASCADE"), primary_key=True
    )
    vendor_id: Mapped[str] = mapped_column(ForeignKey("vendors.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    retention_tier: Mapped[str | None] = mapped_column(String(32), nullable=True)

    vendor: Mapped[Vendor] = relationship()


class ConfigVersion(db.Model):
    """A published configuration: numbered per site, frozen, identified by its hash.

    ``content`` is everything the visitor is shown (texts, purposes, vendors as they were
    at publication); receipts name the number and hash, so compliance can show exactly
    what a visitor saw. Rows are never updated or deleted.
    """

    __tablename__ = "config_versions"
    __table_args__ = (UniqueConstraint("site_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict] = mapped_column(JSONDocument)
    content_hash: Mapped[str] = mapped_column(String(80))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    site: Mapped[Site] = relationship(back_populates="versions")


class GlobalVendorList(db.Model):
    """A version of IAB Europe's Global Vendor List (TCF), as fetched, with the
    translations of its purposes. Every version is kept: a published configuration names
    the one it froze. Rows are never updated."""

    __tablename__ = "global_vendor_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)  # vendorListVersion
    policy_version: Mapped[int] = mapped_column(Integer)  # tcfPolicyVersion
    last_updated: Mapped[str] = mapped_column(String(40))  # the GVL's lastUpdated, as written
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    document: Mapped[dict] = mapped_column(JSONDocument)  # vendor-list.json
    # {language: purposes-<iab code>.json}, for the banner's languages IAB translates
    translations: Mapped[dict] = mapped_column(JSONDocument, default=dict)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    operator: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Membership.workspace_id")

    def role_in(self, workspace_id: int) -> str | None:
        """The user's role in the workspace: an operator is an admin everywhere."""
        if self.operator:
            return Role.ADMIN.value
        return next((m.role for m in self.memberships if m.workspace_id == workspace_id), None)


class ApiToken(db.Model):
    """A user's token for automation. Only its SHA-256 is stored; the token itself is shown
    once, when it is made."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))  # enough to recognise it in a list
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    user: Mapped[User] = relationship()


class ConsoleSession(db.Model):
    """A console login. The browser's cookie holds a secret whose SHA-256 is the id, so the
    server can end a session at once (logout, a disabled account, a new password) and a
    copied cookie dies with it."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_because: Mapped[str | None] = mapped_column(String(32), nullable=True)
    user_agent: Mapped[str] = mapped_column(String(200), default="")

    user: Mapped[User] = relationship()


class RateLimitCount(db.Model):
    """Requests of one client in one minute, when the rate limit is kept in the database
    (CMP_RATE_LIMIT_STORAGE=database) so that it holds across app servers. ``client`` is a
    keyed hash of the client's address, never the address."""

    __tablename__ = "rate_limit_counts"

    client: Mapped[str] = mapped_column(String(32), primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)


class LoginFailure(db.Model):
    """A failed login, for throttling across workers. Keyed by keyed hashes of the e-mail
    and of the client address: neither is stored in the clear."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class AuditEvent(db.Model):
    """One change: who, when, what, before and after. Append-only."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(254))  # a user's e-mail, or "cli"
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict | None] = mapped_column(JSONDocument, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSONDocument, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class SubjectRequest(db.Model):
    """A data subject's request (access, download, change, erasure), kept 24 months.

    It names the consent id the visitor presented, never their subject id, so the log
    holds nothing that points back to a person once an erasure is done."""

    __tablename__ = "subject_requests"
    __table_args__ = (
        CheckConstraint("kind IN ('access', 'download', 'change', 'erasure')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    site_key: Mapped[str] = mapped_column(String(32), index=True)
    receipt_id: Mapped[str] = mapped_column(String(36), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    handled_by: Mapped[str] = mapped_column(String(254), default="self-service")
    outcome: Mapped[str] = mapped_column(Text, default="")


SUBJECT_REQUEST_RETENTION_MONTHS = 24


class BannerImpression(db.Model):
    """How many times a site's banner asked (or told) visitors, per day: the denominator
    of "saw the banner without choosing". No visitor data at all."""

    __tablename__ = "banner_impressions"
    __table_args__ = (UniqueConstraint("site_key", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_key: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(Integer, default=0)


class BannerSighting(db.Model):
    """The last time the banner was seen on a page of an origin: asking a visitor on one
    the site registered, or refused on one it did not (a few of those at most). Answers
    "is the tag on your site?" in the console."""

    __tablename__ = "banner_sightings"
    __table_args__ = (UniqueConstraint("site_key", "origin"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_key: Mapped[str] = mapped_column(String(32))
    origin: Mapped[str] = mapped_column(String(255))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CollectionToken(db.Model):
    """A site's token for server-side consent collection: a consent POST without a
    browser's Origin must carry one of the site's tokens (collection method "api"). Only
    its SHA-256 is stored; the token itself is shown once, when it is made."""

    __tablename__ = "collection_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    site: Mapped[Site] = relationship()


class StaleReceipt(db.Model):
    """A receipt a visitor's browser may still hold in its cookie although the ledger has
    moved past it without that browser: a change on /my-consent/ or through the API, or an
    erasure. The banner configuration lists the first characters of the newest of these
    receipt ids, so a banner holding one asks for the current state (cmp_server.sync); kept
    until the browser's cookie expires with the receipt."""

    __tablename__ = "stale_receipts"
    __table_args__ = (Index("ix_stale_receipts_site_marked", "site_key", "marked_at"),)

    receipt_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site_key: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    marked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SiteScan(db.Model):
    """A site's latest scan (cmp_server.scanner.jobs): one row per site, replaced by the next
    scan. ``status`` is running while a scan is under way, then done (with the report) or
    failed (with the error)."""

    __tablename__ = "site_scans"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'done', 'failed')", name="status"),
    )

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_by: Mapped[str] = mapped_column(String(254))  # a user's e-mail, or "cli"
    urls: Mapped[list] = mapped_column(JSONDocument)
    report: Mapped[dict | None] = mapped_column(JSONDocument, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ProofExport(db.Model):
    """A proof bundle being written in the background for the console
    (cmp_server.consent.export_jobs): its progress while ``running``, then ``done`` (the
    zip is in the instance folder under ``id``) or ``failed`` (with the error). Kept in the
    database so that any worker can show it; removed with its file a while after it ends."""

    __tablename__ = "proof_exports"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'done', 'failed')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random, not guessable
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    started_by: Mapped[str] = mapped_column(String(254))
    period_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # not included
    status: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(32), default="queued")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    records: Mapped[int | None] = mapped_column(Integer, nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    site: Mapped["Site"] = relationship()


def _refuse_change(_mapper, _connection, target):
    raise ImmutableRowError(f"{type(target).__name__} rows are append-only")


for _model in (ConfigVersion, AuditEvent):
    event.listen(_model, "before_update", _refuse_change)
    event.listen(_model, "before_delete", _refuse_change)


# The consent ledger's tables live in the app's metadata, so the app's migrations create
# them; the ledger library itself knows nothing of Flask.
LEDGER_TABLES = ledger_tables(db.metadata)
ledger = Ledger(LEDGER_TABLES)

# Keys a trigger stands in for on PostgreSQL (migration 0016: PostgreSQL checked this one
# with a query per seal member); the models keep them, as SQLite does.
KEYS_CHECKED_BY_TRIGGER = {"postgresql": {"fk_ledger_seal_members_seal_number_ledger_seals"}}


def compared_by_migrations(dialect: str):
    """Alembic's include_object for ``dialect``: which model objects the migrations must
    create there (autogenerate and the migrations' test compare only those)."""
    skipped = KEYS_CHECKED_BY_TRIGGER.get(dialect, set())

    def include_object(_object, name, type_, _reflected, _compare_to) -> bool:
        return not (type_ == "foreign_key_constraint" and name in skipped)
    return include_object
