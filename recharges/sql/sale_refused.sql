-- Raises the 403 or 402 sale_refusal gave (its body as the DETAIL, JSON, under
-- the constraint name the caller maps to its error: limit_exceeded or
-- insufficient_balance), which undoes the sale's statement and all it wrote
-- before its debit; does nothing for no refusal.
CREATE OR REPLACE FUNCTION sale_refused(p_status integer, p_body jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_status = 403 THEN
        RAISE EXCEPTION 'limit_exceeded' USING ERRCODE = 'check_violation', CONSTRAINT = 'limit_exceeded',
            DETAIL = p_body::text;
    ELSIF p_status = 402 THEN
        RAISE EXCEPTION 'insufficient_balance' USING ERRCODE = 'check_violation', CONSTRAINT = 'insufficient_balance',
            DETAIL = p_body::text;
    END IF;
END
$$;
