-- Called by a sale right after its debit, under the row lock it took, when
-- the seller has a number_hourly_count: raises limit_exceeded (the 403's
-- details as the DETAIL, JSON) if the sale would pass it, which undoes the
-- whole statement, debit included. Raising costs the sale nothing when the
-- limit holds, where checking before the debit would need the lock first.
-- p_selling: the sale's own recharges, already written (number_limit_refusal).
CREATE OR REPLACE FUNCTION sale_over_number_limit(
    p_seller bigint, p_allowed integer, p_phones text[], p_selling bigint[] DEFAULT '{}'
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_refusal jsonb := number_limit_refusal(p_seller, p_allowed, p_phones, p_selling);
BEGIN
    IF v_refusal IS NOT NULL THEN
        RAISE EXCEPTION 'limit_exceeded' USING ERRCODE = 'check_violation', CONSTRAINT = 'limit_exceeded',
            DETAIL = v_refusal::text;
    END IF;
END
$$;
