-- ledger_post_debit for several recharges at once, all or none: one balance
-- update for their total (limits judged on them together), then one entry
-- per recharge in array order.
CREATE OR REPLACE FUNCTION ledger_post_debits(
    p_seller bigint, p_recharges bigint[], p_amounts bigint[], p_day date,
    OUT out_balance bigint, OUT out_number_hourly_count integer
)
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := cardinality(p_amounts);
    v_total bigint;
    v_sequence bigint;
BEGIN
    SELECT sum(a) INTO v_total FROM unnest(p_amounts) a;
    PERFORM seller_debit_queue(p_seller);
    UPDATE sellers_seller
       SET balance = balance - v_total, ledger_sequence = ledger_sequence + v_count,
           daily_amount_used = CASE WHEN daily_amount_day = p_day THEN daily_amount_used + v_total
                                    WHEN daily_amount_day > p_day THEN daily_amount_used
                                    ELSE v_total END,
           daily_amount_day = greatest(daily_amount_day, p_day)
     WHERE id = p_seller AND balance >= v_total
       AND CASE WHEN max_recharge_amount IS NULL AND daily_amount IS NULL THEN true
                ELSE debit_limit_refusal(sellers_seller, p_day, p_amounts) IS NULL END
    RETURNING balance, ledger_sequence, number_hourly_count INTO out_balance, v_sequence, out_number_hourly_count;
    IF FOUND THEN
        INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)
        SELECT p_seller, v_sequence - v_count + i.ord, 'recharge', -i.amount,
               out_balance + v_total - sum(i.amount) OVER (ORDER BY i.ord), i.recharge, now()
          FROM unnest(p_recharges, p_amounts) WITH ORDINALITY AS i(recharge, amount, ord)
         ORDER BY i.ord;
    END IF;
END
$$;
