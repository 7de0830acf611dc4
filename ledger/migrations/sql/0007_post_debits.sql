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

-- ledger_post_debit for several recharges at once, all or none: one balance
-- update for their total, then one entry per recharge in array order.
CREATE OR REPLACE FUNCTION ledger_post_debits(p_seller bigint, p_recharges bigint[], p_amounts bigint[], OUT out_balance bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := cardinality(p_amounts);
    v_total bigint;
    v_sequence bigint;
BEGIN
    SELECT sum(a) INTO v_total FROM unnest(p_amounts) a;
    UPDATE sellers_seller SET balance = balance - v_total, ledger_sequence = ledger_sequence + v_count
     WHERE id = p_seller AND balance >= v_total
    RETURNING balance, ledger_sequence INTO out_balance, v_sequence;
    IF FOUND THEN
        INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)
        SELECT p_seller, v_sequence - v_count + i.ord, 'recharge', -i.amount,
               out_balance + v_total - sum(i.amount) OVER (ORDER BY i.ord), i.recharge, now()
          FROM unnest(p_recharges, p_amounts) WITH ORDINALITY AS i(recharge, amount, ord)
         ORDER BY i.ord;
    END IF;
END
$$;

--- reverse
DROP FUNCTION ledger_post_debits(bigint, bigint[], bigint[]);
DROP FUNCTION ledger_post_debit(bigint, bigint, bigint);
