-- A sale in one statement, run in autocommit (PostgreSQL makes it atomic):
-- replay a known Idempotency-Key; else check what is sold (operator_refusal:
-- 400, nothing written), write the number and the recharge `pending` (the
-- delivery worker's queue: a committed sale cannot lose its delivery) with
-- the seller's commission rate for its operator, and only then debit the
-- seller within its limits (ledger_post_debit: the conditional UPDATE is the
-- row lock, held to commit), so that a busy seller's row stays locked for
-- the entry, the response and the commit alone. Then store the response under
-- the key. A refusal raises, which undoes the whole statement: a debit
-- refused raises sale_refusal's 403 or 402 (sale_refused), a number over its
-- hourly count limit_exceeded (sale_over_number_limit), an operator whose
-- tracked float cannot cover it operator_unavailable (operator_float_reserve,
-- last, so that the float row is held only to the commit); the DETAIL is the error's details, JSON, and
-- the caller renders the error and stores it under the key.
-- p_amount is NULL for a product sold without one; p_time_zone is the
-- business time zone, whose day daily_amount counts. Every sale and batch
-- writes its numbers before its debit, so none waits for a number's lock while
-- it holds its seller's: a sale and a batch of one seller sharing a new number
-- would deadlock otherwise.
-- The functions it calls are called as expressions (x := f()), not as
-- SELECT ... FROM f(): an expression skips the executor (measured in
-- docs/serving.md).
CREATE OR REPLACE FUNCTION sell_recharge(
    p_seller bigint, p_phone text, p_operator text, p_amount bigint, p_product text, p_key text, p_request_hash text,
    p_time_zone text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_replay record;
    v_sold record;
    v_debit record;
    v_refusal record;
    v_phone bigint;
    v_recharge bigint;
    v_tracked text[];
BEGIN
    v_replay := idempotency_replay(p_seller, p_key, 'recharges', p_request_hash);
    out_replayed := v_replay.out_status IS NOT NULL;
    IF out_replayed THEN
        out_status := v_replay.out_status;
        out_body := v_replay.out_body;
        RETURN;
    END IF;
    v_sold := operator_refusal(p_operator, p_amount, p_product);
    IF v_sold.out_refusal IS NOT NULL THEN
        out_status := 400;
        out_body := v_sold.out_refusal;
        RETURN;
    END IF;
    v_tracked := operator_floats_tracked(ARRAY[p_operator]);
    SELECT id INTO v_phone FROM recharges_phonenumber WHERE e164 = p_phone;
    IF v_phone IS NULL THEN
        -- DO NOTHING, not DO UPDATE: an update would lock the number's row to
        -- the commit, and a sale holding its seller's queue would then wait
        -- for it at its commit's foreign-key check, while this sale waits for
        -- the queue.
        INSERT INTO recharges_phonenumber (e164, created_at) VALUES (p_phone, now())
        ON CONFLICT (e164) DO NOTHING
        RETURNING id INTO v_phone;
        IF v_phone IS NULL THEN  -- inserted by a sale that committed meanwhile
            SELECT id INTO v_phone FROM recharges_phonenumber WHERE e164 = p_phone;
        END IF;
    END IF;
    v_recharge := nextval('recharges_recharge_id_seq');
    INSERT INTO recharges_recharge
           (id, seller_id, phone_number_id, amount, operator, product, commission_rate, idempotency_key, created_at,
            status, next_attempt_at, attempts, last_error, float_reserved)
    VALUES (v_recharge, p_seller, v_phone, v_sold.out_amount, p_operator, p_product,
            coalesce((SELECT rate FROM recharges_commissionrate WHERE seller_id = p_seller AND operator_id = p_operator), 0),
            p_key, now(), 'pending', now(), 0, '', v_tracked IS NOT NULL);
    LOOP
        v_debit := ledger_post_debit(p_seller, v_recharge, v_sold.out_amount, business_day(now(), p_time_zone));
        EXIT WHEN v_debit.out_balance IS NOT NULL;
        v_refusal := sale_refusal(p_seller, ARRAY[p_phone], ARRAY[v_sold.out_amount], business_day(now(), p_time_zone),
                                  ARRAY[v_recharge]);
        PERFORM sale_refused(v_refusal.out_status, v_refusal.out_body);
        -- Nothing refuses it now (a credit came in meanwhile): debit again.
    END LOOP;
    IF v_debit.out_number_hourly_count IS NOT NULL THEN
        PERFORM sale_over_number_limit(p_seller, v_debit.out_number_hourly_count, ARRAY[p_phone], ARRAY[v_recharge]);
    END IF;
    out_status := 201;
    out_body := recharge_json(v_recharge);
    PERFORM idempotency_store(p_seller, p_key, 'recharges', p_request_hash, out_status, out_body);
    IF v_tracked IS NOT NULL THEN
        PERFORM operator_float_reserve(v_tracked, ARRAY[p_operator], ARRAY[v_sold.out_amount]);
    END IF;
END
$$;
