-- A failed recharge frees its amount from its seller's daily total, if it was
-- sold on the business day that total counts (an older day's is gone). Call
-- it under the seller's row lock, in the transaction that refunds it.
CREATE OR REPLACE FUNCTION ledger_release_daily_amount(p_seller bigint, p_amount bigint, p_day date) RETURNS void
LANGUAGE sql AS $$
    UPDATE sellers_seller SET daily_amount_used = daily_amount_used - p_amount
     WHERE id = p_seller AND daily_amount_day = p_day
$$;
