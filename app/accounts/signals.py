"""What the accounts domain announces; upper domains connect at start-up (their hooks.py)."""

from blinker import Namespace

_signals = Namespace()

#: An account was locked after too many failed sign-ins. Receivers run in the sender's transaction:
#: sender=User, minutes=int (how long the lock lasts), ip=str | None (where the last failure came from).
account_locked = _signals.signal("account-locked")

#: A consumer signed up (the confirmation link made the account). Receivers run in the sender's transaction,
#: before it commits: sender=User (it has its id).
consumer_created = _signals.signal("consumer-created")

#: Someone asks to sign up with this address (no account exists yet, nothing is written yet). Receivers may
#: refuse by raising (risk control, app/risk/hooks.py): sender=str (the normalised email).
signup_requested = _signals.signal("signup-requested")

#: A sign-in is about to be decided (before the password is checked, nothing written yet). Receivers may
#: refuse by raising (risk control): sender=User | None (the account the login names), ip=str | None.
signing_in = _signals.signal("signing-in")
