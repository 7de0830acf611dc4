-- Why a sale's debit was refused: 403 with the first limit passed (amounts,
-- then the number's hourly count), else 402 {"balance", "amount"}; NULLs when
-- neither applies any more (a credit came in meanwhile): the caller then
-- debits again. The order of checks is the contract's. Only a seller with a
-- number_hourly_count has its row locked here (held to commit), since that
-- count is exact only under the lock; any other refusal reads the row as a
-- 402 always did, so refused sales of a hot seller queue for the lock once.
-- p_selling: the sale's own recharges, already written (number_limit_refusal).
CREATE OR REPLACE FUNCTION sale_refusal(
    p_seller bigint, p_phones text[], p_amounts bigint[], p_day date, p_selling bigint[] DEFAULT '{}',
    OUT out_status integer, OUT out_body jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
    v_seller sellers_seller%ROWTYPE;
    v_total bigint;
BEGIN
    SELECT * INTO v_seller FROM sellers_seller WHERE id = p_seller;
    IF v_seller.number_hourly_count IS NOT NULL THEN
        SELECT * INTO v_seller FROM sellers_seller WHERE id = p_seller FOR NO KEY UPDATE;
    END IF;
    out_body := debit_limit_refusal(v_seller, p_day, p_amounts);
    IF out_body IS NULL AND v_seller.number_hourly_count IS NOT NULL THEN
        out_body := number_limit_refusal(p_seller, v_seller.number_hourly_count, p_phones, p_selling);
    END IF;
    IF out_body IS NOT NULL THEN
        out_status := 403;
        RETURN;
    END IF;
    SELECT sum(a) INTO v_total FROM unnest(p_amounts) a;
    IF v_seller.balance < v_total THEN
        out_status := 402;
        out_body := jsonb_build_object('balance', v_seller.balance, 'amount', v_total);
    END IF;
END
$$;
