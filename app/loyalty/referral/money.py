"""Where a promoter's money sits: their wallet (app/payments/wallet.py, the user's sub-account of 2208, a
liability). Available commission is credited to it from 6603 Promoter commissions; a withdrawal debits it into
2243 Promoter withdrawals payable until finance pays it to the bank (1002) or rejects it (credited back from
2243). Every movement is one balanced ledger entry, idempotent by its key; the wallet's own row lock serialises
them with checkout spending the same wallet."""

from app.ledger import services as ledger
from app.payments import wallet

EXPENSE = "6603"
WITHDRAWALS = "2243"
BANK = "1002"
KIND_COMMISSION = "referral_commission"
KIND_WITHDRAWAL = "referral_withdrawal"

balance = wallet.balance
lock = wallet.lock


def pay_commission(user_id: int, amount_fen: int, *, key: str, memo: str, ref: tuple[str, int]) -> None:
    wallet.credit(user_id, amount_fen, kind=KIND_COMMISSION, key=key, memo=memo, ref=ref, source_account=EXPENSE)


def hold_withdrawal(user_id: int, amount_fen: int, *, key: str, memo: str, ref: tuple[str, int]) -> None:
    """Raises wallet.WalletInsufficient (posting nothing) if the wallet no longer holds it."""
    wallet.debit(user_id, amount_fen, kind=KIND_WITHDRAWAL, key=key, memo=memo, ref=ref, target_account=WITHDRAWALS)


def return_withdrawal(user_id: int, amount_fen: int, *, key: str, memo: str, ref: tuple[str, int],
                      actor_id: int) -> None:
    wallet.credit(user_id, amount_fen, kind=KIND_WITHDRAWAL, key=key, memo=memo, ref=ref,
                  source_account=WITHDRAWALS, actor_id=actor_id)


def pay_withdrawal(amount_fen: int, *, key: str, memo: str, ref: tuple[str, int], actor_id: int) -> None:
    ledger.post(KIND_WITHDRAWAL, [(WITHDRAWALS, amount_fen), (BANK, -amount_fen)], key=key, memo=memo, ref=ref,
                actor_id=actor_id)
