-- A sale in one statement, run in autocommit (PostgreSQL makes it atomic):
-- replay a known Idempotency-Key; else debit the seller (ledger_post_debit:
-- the conditional UPDATE is the row lock), write the recharge `pending` (the
-- delivery worker's queue: a committed sale cannot lose its delivery), and
-- store the response under the key. A refusal writes nothing: 400 with the
-- operator_refusal, or 402 with {"balance", "amount"}; the caller renders the
-- error (and stores a 402 under the key).
CREATE OR REPLACE FUNCTION sell_recharge(
    p_seller bigint, p_phone text, p_operator text, p_amount bigint, p_key text, p_request_hash text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_phone bigint;
    v_recharge bigint;
BEGIN
    SELECT * INTO out_status, out_body FROM idempotency_replay(p_seller, p_key, 'recharges', p_request_hash);
    out_replayed := out_status IS NOT NULL;
    IF out_replayed THEN
        RETURN;
    END IF;
    out_body := operator_refusal(p_operator, p_amount);
    IF out_body IS NOT NULL THEN
        out_status := 400;
        RETURN;
    END IF;
    -- Looked up before the seller lock, so the row stays locked for less work.
    SELECT id INTO v_phone FROM recharges_phonenumber WHERE e164 = p_phone;
    v_recharge := nextval('recharges_recharge_id_seq');
    IF ledger_post_debit(p_seller, v_recharge, p_amount) IS NULL THEN
        out_status := 402;
        out_body := jsonb_build_object('balance', (SELECT balance FROM sellers_seller WHERE id = p_seller), 'amount', p_amount);
        RETURN;
    END IF;
    -- A new number is inserted only once the sale is certain (a 402 writes nothing).
    IF v_phone IS NULL THEN
        INSERT INTO recharges_phonenumber (e164, created_at) VALUES (p_phone, now())
        ON CONFLICT (e164) DO UPDATE SET e164 = EXCLUDED.e164
        RETURNING id INTO v_phone;
    END IF;
    INSERT INTO recharges_recharge
           (id, seller_id, phone_number_id, amount, operator, idempotency_key, created_at,
            status, next_attempt_at, attempts, last_error)
    VALUES (v_recharge, p_seller, v_phone, p_amount, p_operator, p_key, now(), 'pending', now(), 0, '');
    out_status := 201;
    out_body := recharge_json(v_recharge);
    PERFORM idempotency_store(p_seller, p_key, 'recharges', p_request_hash, out_status, out_body);
END
$$;
