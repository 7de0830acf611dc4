-- Stores the response given under an Idempotency-Key, in the caller's
-- transaction, so it commits with the work or not at all. A concurrent request
-- with the same key blocks on UNIQUE (seller, key) until the first commits,
-- then fails on it (idempotency_key_unique_per_seller): it rolls back and
-- replays the first response.
CREATE OR REPLACE FUNCTION idempotency_store(
    p_seller bigint, p_key text, p_endpoint text, p_request_hash text, p_status integer, p_body jsonb
)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_idempotencyrecord (seller_id, key, endpoint, request_hash, status_code, response, created_at)
        VALUES (p_seller, p_key, p_endpoint, p_request_hash, p_status, p_body, now());
    END IF;
END
$$;
