-- Which of the seller's amount limits these debits (one per recharge, of
-- business day p_day) would pass, or NULL: {"limit", "allowed", "used"}, as
-- the 403 limit_exceeded gives it. Judged on the seller's row alone, so that
-- the debit's conditional UPDATE can ask it of the row it locks (and, after
-- waiting for that lock, of the row as the previous sale left it): no other
-- sale can slip in between the check and the debit.
-- `used` is the amount asked for max_recharge_amount (the first item over
-- it), the day's amount before these debits for daily_amount.
CREATE OR REPLACE FUNCTION debit_limit_refusal(p_seller sellers_seller, p_day date, p_amounts bigint[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_amount bigint;
    v_used bigint;
BEGIN
    IF p_seller.max_recharge_amount IS NOT NULL THEN
        SELECT a INTO v_amount FROM unnest(p_amounts) WITH ORDINALITY AS u(a, ord)
         WHERE a > p_seller.max_recharge_amount ORDER BY ord LIMIT 1;
        IF FOUND THEN
            RETURN jsonb_build_object('limit', 'max_recharge_amount', 'allowed', p_seller.max_recharge_amount, 'used', v_amount);
        END IF;
    END IF;
    IF p_seller.daily_amount IS NOT NULL THEN
        v_used := CASE WHEN p_seller.daily_amount_day = p_day THEN p_seller.daily_amount_used ELSE 0 END;
        IF v_used + (SELECT sum(a) FROM unnest(p_amounts) a) > p_seller.daily_amount THEN
            RETURN jsonb_build_object('limit', 'daily_amount', 'allowed', p_seller.daily_amount, 'used', v_used);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
