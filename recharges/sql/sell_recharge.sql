-- A sale in one statement, run in autocommit (PostgreSQL makes it atomic):
-- replay a known Idempotency-Key; else check what is sold (operator_refusal:
-- 400), debit the seller within its limits (ledger_post_debit: the
-- conditional UPDATE is the row lock), write the recharge `pending` (the
-- delivery worker's queue: a committed sale cannot lose its delivery) with
-- the seller's commission rate for its operator, and store the response
-- under the key. A refusal writes nothing: 400 with the operator_refusal, 403
-- or 402 with sale_refusal's body (the caller renders the error and stores a
-- 403 or 402 under the key); a number over its hourly count raises
-- limit_exceeded (sale_over_number_limit), undoing the statement; one whose
-- operator's tracked float cannot cover it raises operator_unavailable
-- (operator_float_reserve, last, so that the float row is held only to the
-- commit), undoing it too.
-- p_amount is NULL for a product sold without one; p_time_zone is the
-- business time zone, whose day daily_amount counts.
CREATE OR REPLACE FUNCTION sell_recharge(
    p_seller bigint, p_phone text, p_operator text, p_amount bigint, p_product text, p_key text, p_request_hash text,
    p_time_zone text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_phone bigint;
    v_recharge bigint;
    v_amount bigint;
    v_day date := business_day(now(), p_time_zone);
    v_balance bigint;
    v_number_hourly_count integer;
    v_tracked text[];
BEGIN
    SELECT * INTO out_status, out_body FROM idempotency_replay(p_seller, p_key, 'recharges', p_request_hash);
    out_replayed := out_status IS NOT NULL;
    IF out_replayed THEN
        RETURN;
    END IF;
    SELECT * INTO v_amount, out_body FROM operator_refusal(p_operator, p_amount, p_product);
    IF out_body IS NOT NULL THEN
        out_status := 400;
        RETURN;
    END IF;
    -- Looked up before the seller lock, so the row stays locked for less work.
    SELECT id INTO v_phone FROM recharges_phonenumber WHERE e164 = p_phone;
    v_recharge := nextval('recharges_recharge_id_seq');
    LOOP
        SELECT * INTO v_balance, v_number_hourly_count FROM ledger_post_debit(p_seller, v_recharge, v_amount, v_day);
        EXIT WHEN v_balance IS NOT NULL;
        SELECT * INTO out_status, out_body FROM sale_refusal(p_seller, ARRAY[p_phone], ARRAY[v_amount], v_day);
        IF out_status IS NOT NULL THEN
            RETURN;
        END IF;
        -- Nothing refuses it now (a credit came in meanwhile): debit again.
    END LOOP;
    IF v_number_hourly_count IS NOT NULL THEN
        PERFORM sale_over_number_limit(p_seller, v_number_hourly_count, ARRAY[p_phone]);
    END IF;
    v_tracked := operator_floats_tracked(ARRAY[p_operator]);
    -- A new number is inserted only once the sale is certain (a refusal writes nothing).
    IF v_phone IS NULL THEN
        INSERT INTO recharges_phonenumber (e164, created_at) VALUES (p_phone, now())
        ON CONFLICT (e164) DO UPDATE SET e164 = EXCLUDED.e164
        RETURNING id INTO v_phone;
    END IF;
    INSERT INTO recharges_recharge
           (id, seller_id, phone_number_id, amount, operator, product, commission_rate, idempotency_key, created_at,
            status, next_attempt_at, attempts, last_error, float_reserved)
    VALUES (v_recharge, p_seller, v_phone, v_amount, p_operator, p_product,
            coalesce((SELECT rate FROM recharges_commissionrate WHERE seller_id = p_seller AND operator_id = p_operator), 0),
            p_key, now(), 'pending', now(), 0, '', v_tracked IS NOT NULL);
    out_status := 201;
    out_body := recharge_json(v_recharge);
    PERFORM idempotency_store(p_seller, p_key, 'recharges', p_request_hash, out_status, out_body);
    IF v_tracked IS NOT NULL THEN
        PERFORM operator_float_reserve(v_tracked, ARRAY[p_operator], ARRAY[v_amount]);
    END IF;
END
$$;
