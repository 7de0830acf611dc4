"""idempotency_begin / idempotency_finish: the one implementation of
Idempotency-Key, used by the money functions in SQL and by Python services."""

from django.db import migrations

FUNCTIONS = r"""
-- Claims (seller, key) for this request in the caller's transaction. Returns no
-- row when the claim is new; otherwise the stored (status, body) to replay, or
-- (422, NULL) when the key was used for another endpoint or body. A repeat that
-- arrives while the first is still running waits on the unique index until the
-- first commits (bounded by lock_timeout), then replays its response.
CREATE FUNCTION idempotency_begin(p_seller bigint, p_key text, p_endpoint text, p_request_hash text)
RETURNS TABLE (out_status integer, out_body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r idempotency_idempotencyrecord%ROWTYPE;
BEGIN
    INSERT INTO idempotency_idempotencyrecord (seller_id, key, endpoint, request_hash, created_at)
    VALUES (p_seller, p_key, p_endpoint, p_request_hash, now())
    ON CONFLICT (seller_id, key) DO NOTHING;
    IF FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO r FROM idempotency_idempotencyrecord WHERE seller_id = p_seller AND key = p_key;
    IF r.endpoint <> p_endpoint OR r.request_hash <> p_request_hash THEN
        out_status := 422;
        out_body := NULL;
    ELSE
        out_status := r.status_code;
        out_body := r.response;
    END IF;
    RETURN NEXT;
END
$$;

CREATE FUNCTION idempotency_finish(p_seller bigint, p_key text, p_status integer, p_body jsonb)
RETURNS void
LANGUAGE sql AS $$
    UPDATE idempotency_idempotencyrecord SET status_code = p_status, response = p_body
     WHERE seller_id = p_seller AND key = p_key;
$$;
"""

REVERSE = """
DROP FUNCTION idempotency_finish(bigint, text, integer, jsonb);
DROP FUNCTION idempotency_begin(bigint, text, text, text);
"""


class Migration(migrations.Migration):
    dependencies = [("idempotency", "0001_initial")]

    operations = [migrations.RunSQL(FUNCTIONS, REVERSE)]
