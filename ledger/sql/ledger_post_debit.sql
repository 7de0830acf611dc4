-- Debits a seller for one recharge: a conditional UPDATE (the seller's row
-- lock, held to commit) and the recharge's entry, continuing the running
-- balance. Returns the balance after it, or NULL and writes nothing when the
-- balance does not cover the amount. The entry may name a recharge inserted
-- later in the same transaction (foreign keys are checked at commit).
CREATE OR REPLACE FUNCTION ledger_post_debit(p_seller bigint, p_recharge bigint, p_amount bigint, OUT out_balance bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_sequence bigint;
BEGIN
    UPDATE sellers_seller SET balance = balance - p_amount, ledger_sequence = ledger_sequence + 1
     WHERE id = p_seller AND balance >= p_amount
    RETURNING balance, ledger_sequence INTO out_balance, v_sequence;
    IF FOUND THEN
        INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)
        VALUES (p_seller, v_sequence, 'recharge', -p_amount, out_balance, p_recharge, now());
    END IF;
END
$$;
