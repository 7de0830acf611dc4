-- Debits a seller for one recharge: after its turn in the seller's queue
-- (seller_debit_queue), a conditional UPDATE (the seller's row lock, held to
-- commit) and the recharge's entry, continuing the running balance. The
-- UPDATE also adds the amount to the business day's total (daily_amount_used;
-- a sale of an earlier day, committing after the day turned, leaves the new
-- day's total alone). Returns the balance after it and
-- the seller's number_hourly_count (for the caller to check under the lock
-- now held), or NULLs and writes nothing when the balance does not cover the
-- amount or a limit refuses it (debit_limit_refusal; skipped without limits).
-- The entry may name a recharge inserted later in the same transaction
-- (foreign keys are checked at commit).
CREATE OR REPLACE FUNCTION ledger_post_debit(
    p_seller bigint, p_recharge bigint, p_amount bigint, p_day date,
    OUT out_balance bigint, OUT out_number_hourly_count integer
)
LANGUAGE plpgsql AS $$
DECLARE
    v_sequence bigint;
BEGIN
    PERFORM seller_debit_queue(p_seller);
    UPDATE sellers_seller
       SET balance = balance - p_amount, ledger_sequence = ledger_sequence + 1,
           daily_amount_used = CASE WHEN daily_amount_day = p_day THEN daily_amount_used + p_amount
                                    WHEN daily_amount_day > p_day THEN daily_amount_used
                                    ELSE p_amount END,
           daily_amount_day = greatest(daily_amount_day, p_day)
     WHERE id = p_seller AND balance >= p_amount
       AND CASE WHEN max_recharge_amount IS NULL AND daily_amount IS NULL THEN true
                ELSE debit_limit_refusal(sellers_seller, p_day, ARRAY[p_amount]) IS NULL END
    RETURNING balance, ledger_sequence, number_hourly_count INTO out_balance, v_sequence, out_number_hourly_count;
    IF FOUND THEN
        INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)
        VALUES (p_seller, v_sequence, 'recharge', -p_amount, out_balance, p_recharge, now());
    END IF;
END
$$;
