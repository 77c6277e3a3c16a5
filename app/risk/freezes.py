"""Freezing an account (a consumer, any user) or a whole reseller organization, with a reason; ops do it by hand
and a review rejection may do it too. A frozen account can sign in and look, and every door that moves goods or
money refuses it (the engine blocks every point but sign-up and sign-in)."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.accounts.models import Organization, User
from app.core.audit import audit
from app.core.errors import NotFound, ValidationError
from app.core.ids import utcnow
from app.extensions import db


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason or len(reason) > 200:
        raise ValidationError(_l("Give a reason of at most 200 characters."), field="reason")
    return reason


def _set(model, target_id: int, actor: User, reason: str, freeze: bool, commit: bool = True):
    """Freeze (or unfreeze) one user or organization, audited; NotFound for an id that is none."""
    reason = _reason(reason)
    target = _get(model, target_id)
    if freeze and model is User and target.id == actor.id:
        raise ValidationError(_l("You cannot freeze your own account."))
    db.session.execute(sa.update(model).where(model.id == target.id)
                       .values(frozen_at=utcnow() if freeze else None, frozen_reason=reason if freeze else None))
    audit(actor.id, "risk.freeze" if freeze else "risk.unfreeze", {"users": "user", "organizations": "organization"}[model.__tablename__], target.id,
          reason=reason)
    if commit:
        db.session.commit()
    db.session.refresh(target)
    return target


def freeze_user(actor: User, user_id: int, reason: str, commit: bool = True) -> User:
    """`commit=False`: in the caller's transaction (a review's rejection freezes with its refund)."""
    return _set(User, user_id, actor, reason, True, commit)


def unfreeze_user(actor: User, user_id: int, reason: str) -> User:
    return _set(User, user_id, actor, reason, False)


def freeze_organization(actor: User, org_id: int, reason: str) -> Organization:
    return _set(Organization, org_id, actor, reason, True)


def unfreeze_organization(actor: User, org_id: int, reason: str) -> Organization:
    return _set(Organization, org_id, actor, reason, False)


def is_frozen(user: User | None) -> bool:
    """For pages: the account or its organization is frozen (they say so and hide what would be refused)."""
    if user is None or not getattr(user, "is_authenticated", True):
        return False
    if user.frozen_at is not None:
        return True
    return user.organization_id is not None and user.organization is not None \
        and user.organization.frozen_at is not None


def find(q: str, limit: int = 20) -> tuple[list[User], list[Organization]]:
    """Accounts by id, email or mobile number (an email or number in part, too) and organizations by id or
    name, for the console's freeze search."""
    q = (q or "").strip()
    if not q:
        return [], []
    users = sa.select(User).order_by(User.id).limit(limit)
    orgs = sa.select(Organization).order_by(Organization.id).limit(limit)
    if q.isdigit() and len(q) < 11:
        users, orgs = users.where(User.id == int(q)), orgs.where(Organization.id == int(q))
    else:
        like = q.lower()
        users = users.where(sa.or_(User.email.contains(like, autoescape=True), User.phone.contains(q, autoescape=True)))
        orgs = orgs.where(Organization.name.contains(q, autoescape=True))
    return list(db.session.scalars(users)), list(db.session.scalars(orgs))


def frozen(limit: int = 200) -> tuple[list[User], list[Organization]]:
    """The accounts and organizations frozen now, the latest first."""
    return (list(db.session.scalars(sa.select(User).where(User.frozen_at.is_not(None))
                                    .order_by(User.frozen_at.desc(), User.id).limit(limit))),
            list(db.session.scalars(sa.select(Organization).where(Organization.frozen_at.is_not(None))
                                    .order_by(Organization.frozen_at.desc(), Organization.id).limit(limit))))


def _get(model, target_id: int):
    target = db.session.get(model, target_id)
    if target is None:
        raise NotFound(_l("Account not found."))
    return target


def account(user_id: int) -> User:
    return _get(User, user_id)


def organization(org_id: int) -> Organization:
    return _get(Organization, org_id)
