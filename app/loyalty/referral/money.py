"""Where a promoter's money sits. Available commission is paid into the promoter's wallet (2208.U<user>, a
liability: what we owe them), booked to 6603 Promoter commissions; a withdrawal takes it out of the wallet into
2243 Promoter withdrawals payable until finance pays it to the bank (1002) or rejects it (back to the wallet).
Every movement is one balanced ledger entry, idempotent by its key."""

from app.ledger import services as ledger

EXPENSE = "6603"
WITHDRAWALS = "2243"
BANK = "1002"
WALLET = "2208"


def _wallet(user_id: int) -> str:
    return ledger.sub_account(WALLET, "user", user_id)


def balance(user_id: int) -> int:
    """What the user's wallet holds, in fen (a liability: credits are negative postings)."""
    return -ledger.balance(_wallet(user_id))


def pay_commission(user_id: int, amount_fen: int, *, key: str, memo: str, ref: tuple[str, int]) -> None:
    ledger.post("referral_commission", [(EXPENSE, amount_fen), (_wallet(user_id), -amount_fen)], key=key,
                memo=memo, ref=ref)


def hold_withdrawal(user_id: int, amount_fen: int, *, key: str, memo: str, ref: tuple[str, int]) -> None:
    ledger.post("referral_withdrawal", [(_wallet(user_id), amount_fen), (WITHDRAWALS, -amount_fen)], key=key,
                memo=memo, ref=ref)


def return_withdrawal(user_id: int, amount_fen: int, *, key: str, memo: str, ref: tuple[str, int],
                      actor_id: int) -> None:
    ledger.post("referral_withdrawal", [(WITHDRAWALS, amount_fen), (_wallet(user_id), -amount_fen)], key=key,
                memo=memo, ref=ref, actor_id=actor_id)


def pay_withdrawal(amount_fen: int, *, key: str, memo: str, ref: tuple[str, int], actor_id: int) -> None:
    ledger.post("referral_withdrawal", [(WITHDRAWALS, amount_fen), (BANK, -amount_fen)], key=key, memo=memo,
                ref=ref, actor_id=actor_id)
