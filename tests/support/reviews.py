"""Review-queue helpers: a rule that holds every checkout of two or more units for review."""

from app.accounts.models import User
from app.risk import rules


def hold_rule(ops: User):
    """Score 70 at checkout for a quantity of 2+: the shipped checkout threshold turns it into a review."""
    return rules.create(ops, {"name": "two or more: look at it", "weight": 70, "action": "allow", "priority": 5,
                              "point": "checkout", "observe": False,
                              "conditions": [{"feature": "quantity", "op": ">=", "value": "2"}]})
