-- The response stored under a seller's own Idempotency-Key (not a staff
-- user's for that seller, idempotency 0004), for a request on
-- p_endpoint whose parsed body hashes to p_request_hash: its status and body
-- when the key named this same request, status 422 and no body when it named
-- another one, and NULLs for a new key (or no key).
CREATE OR REPLACE FUNCTION idempotency_replay(
    p_seller bigint, p_key text, p_endpoint text, p_request_hash text,
    OUT out_status integer, OUT out_body jsonb
)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_stored idempotency_idempotencyrecord%ROWTYPE;
BEGIN
    IF p_key IS NULL THEN
        RETURN;
    END IF;
    SELECT * INTO v_stored FROM idempotency_idempotencyrecord
     WHERE seller_id = p_seller AND key = p_key AND staff_user_id IS NULL;
    IF NOT FOUND THEN
        RETURN;
    ELSIF v_stored.endpoint = p_endpoint AND v_stored.request_hash = p_request_hash THEN
        out_status := v_stored.status_code;
        out_body := v_stored.response;
    ELSE
        out_status := 422;
    END IF;
END
$$;
