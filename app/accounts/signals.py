"""What the accounts domain announces; upper domains connect at start-up (their hooks.py)."""

from blinker import Namespace

_signals = Namespace()

#: An account was locked after too many failed sign-ins. Receivers run in the sender's transaction:
#: sender=User, minutes=int (how long the lock lasts), ip=str | None (where the last failure came from).
account_locked = _signals.signal("account-locked")
