"""Campaigns: ops creates one as a draft, edits it, publishes it (draft → scheduled) and may end it early;
the periodic `advance` moves stored statuses by the clock (scheduled → live → ended). Readers use
`Campaign.status_at(now)`, which is right even before `advance` has run."""

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core.audit import audit
from app.core.errors import NotFound, TransitionError, ValidationError, raise_all
from app.core.ids import utcnow
from app.core.states import transition
from app.extensions import db
from app.marketing.models import CAMPAIGN_TRANSITIONS, Campaign, CampaignStatus

S = CampaignStatus
PER_PAGE = 30
NAME_MAX, DESCRIPTION_MAX = 120, 500


def get(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(_l("Campaign not found."))
    return campaign


def campaigns_page(page: int = 1):
    return db.paginate(sa.select(Campaign).order_by(Campaign.id.desc()), page=page, per_page=PER_PAGE,
                       error_out=False)


def choices() -> list[Campaign]:
    """Campaigns a feature can still attach something to (not ended), newest first."""
    now = utcnow()
    rows = db.session.scalars(sa.select(Campaign).where(Campaign.status != S.ended).order_by(Campaign.id.desc()))
    return [c for c in rows if c.status_at(now) != S.ended]


def _checked(name: str, description: str, starts_at: datetime | None, ends_at: datetime | None) -> tuple:
    name, description = (name or "").strip(), (description or "").strip()
    errors = []
    if not name:
        errors.append(ValidationError(_l("Give the campaign a name."), field="name"))
    elif len(name) > NAME_MAX:
        errors.append(ValidationError(_l("At most %(n)s characters.", n=NAME_MAX), field="name"))
    if len(description) > DESCRIPTION_MAX:
        errors.append(ValidationError(_l("At most %(n)s characters.", n=DESCRIPTION_MAX), field="description"))
    if starts_at is None:
        errors.append(ValidationError(_l("When does it start?"), field="starts_at"))
    if ends_at is None:
        errors.append(ValidationError(_l("When does it end?"), field="ends_at"))
    elif starts_at is not None and ends_at <= starts_at:
        errors.append(ValidationError(_l("The campaign must end after it starts."), field="ends_at"))
    raise_all(errors)
    return name, description


def create(actor_id: int | None, *, name: str, description: str = "", starts_at: datetime | None,
           ends_at: datetime | None, stackable: bool = False) -> Campaign:
    """A new campaign, as a draft. Commits."""
    name, description = _checked(name, description, starts_at, ends_at)
    campaign = Campaign(name=name, description=description, starts_at=starts_at, ends_at=ends_at,
                        stackable=bool(stackable), status=S.draft, created_by_id=actor_id)
    db.session.add(campaign)
    db.session.flush()
    audit(actor_id, "campaign.create", "campaign", campaign.id, name=name)
    db.session.commit()
    return campaign


def update(actor_id: int | None, campaign_id: int, *, name: str, description: str = "",
           starts_at: datetime | None, ends_at: datetime | None, stackable: bool = False) -> Campaign:
    """Change a campaign that has not ended. Commits."""
    campaign = get(campaign_id)
    if campaign.status_at(utcnow()) == S.ended:
        raise ValidationError(_l("This campaign has ended; it can no longer be changed."), code="CAMPAIGN_ENDED")
    name, description = _checked(name, description, starts_at, ends_at)
    if campaign.status_at(utcnow()) == S.live:
        # the form gives minutes: the same minute is the same start
        if _minute(starts_at) != _minute(campaign.starts_at):
            raise ValidationError(_l("The campaign is live: its start can no longer be moved."),
                                  code="CAMPAIGN_LIVE", field="starts_at")
        starts_at = campaign.starts_at
    before = {"starts_at": campaign.starts_at.isoformat(), "ends_at": campaign.ends_at.isoformat(),
              "stackable": campaign.stackable}
    campaign.name, campaign.description, campaign.stackable = name, description, bool(stackable)
    campaign.starts_at, campaign.ends_at = starts_at, ends_at
    audit(actor_id, "campaign.update", "campaign", campaign.id, name=name, before=before)
    db.session.commit()
    return campaign


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def publish(actor_id: int | None, campaign_id: int) -> Campaign:
    """draft → scheduled: it goes live by itself at its start. Commits."""
    campaign = get(campaign_id)
    if campaign.status != S.draft:
        raise ValidationError(_l("Only a draft can be published."), code="NOT_DRAFT")
    if campaign.ends_at <= utcnow():
        raise ValidationError(_l("Its end time has passed: change the window before publishing."),
                              code="WINDOW_OVER")
    _move(campaign, S.scheduled, actor_id, "published")
    audit(actor_id, "campaign.publish", "campaign", campaign.id)
    db.session.commit()
    return campaign


def end(actor_id: int | None, campaign_id: int) -> Campaign:
    """End a published campaign now, before its end time. Commits."""
    campaign = get(campaign_id)
    if campaign.status_at(utcnow()) not in (S.scheduled, S.live):
        raise ValidationError(_l("Only a scheduled or live campaign can be ended."), code="NOT_RUNNING")
    _move(campaign, S.ended, actor_id, "ended early")
    audit(actor_id, "campaign.end", "campaign", campaign.id)
    db.session.commit()
    return campaign


def _move(campaign: Campaign, to: str, actor_id: int | None, reason: str) -> None:
    try:
        transition(campaign, to, allowed=CAMPAIGN_TRANSITIONS, actor_id=actor_id, reason=reason)
    except TransitionError:
        db.session.rollback()
        raise ValidationError(_l("Someone else changed this campaign meanwhile; look again."),
                              code="CAMPAIGN_CHANGED") from None


def advance(now: datetime | None = None) -> int:
    """The periodic job: stored statuses follow the clock (scheduled → live → ended). Returns how many moved;
    a campaign moved meanwhile by ops (or another run) is left alone. Commits."""
    now = now or utcnow()
    due = db.session.scalars(sa.select(Campaign).where(sa.or_(
        sa.and_(Campaign.status == S.scheduled, Campaign.starts_at <= now),
        sa.and_(Campaign.status == S.live, Campaign.ends_at <= now))).order_by(Campaign.id)).all()
    moved = 0
    for campaign in due:
        to = campaign.status_at(now)
        try:
            with db.session.begin_nested():
                transition(campaign, to, allowed=CAMPAIGN_TRANSITIONS, actor_id=None, reason="by time")
        except TransitionError:
            continue
        moved += 1
    db.session.commit()
    return moved
