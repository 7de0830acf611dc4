-- sell_recharge for many items, all or nothing, with one balance update:
-- each item becomes its own pending recharge and ledger entry, in item order
-- (ids ascend in item order). Limits judge the items together. As in
-- sell_recharge, the numbers, the batch and its recharges are written before
-- the debit, and a refusal after them raises, undoing the statement: a debit
-- refused raises sale_refusal's 403 or 402 (sale_refused), a number over its
-- hourly count limit_exceeded, a float that cannot cover its operator's items
-- operator_unavailable for the whole batch (operator_float_reserve, last). An
-- item the operator does not take writes nothing: 400 with {"items":
-- [{"index", <operator_refusal>}, ...]}. p_amounts holds NULL for a product
-- sold without an amount.
CREATE OR REPLACE FUNCTION sell_recharge_batch(
    p_seller bigint, p_phones text[], p_operators text[], p_amounts bigint[], p_products text[], p_key text,
    p_request_hash text, p_time_zone text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := cardinality(p_phones);
    v_amounts bigint[];
    v_total bigint;
    v_ids bigint[];
    v_batch bigint;
    v_day date := business_day(now(), p_time_zone);
    v_replay record;
    v_debit record;
    v_refusal record;
    v_tracked text[];
BEGIN
    v_replay := idempotency_replay(p_seller, p_key, 'recharge-batches', p_request_hash);
    out_replayed := v_replay.out_status IS NOT NULL;
    IF out_replayed THEN
        out_status := v_replay.out_status;
        out_body := v_replay.out_body;
        RETURN;
    END IF;
    SELECT array_agg((i.checked).out_amount ORDER BY i.ord),
           jsonb_agg(jsonb_build_object('index', i.ord - 1) || (i.checked).out_refusal ORDER BY i.ord)
               FILTER (WHERE (i.checked).out_refusal IS NOT NULL)
      INTO v_amounts, out_body
      FROM (SELECT ord, operator_refusal(operator, amount, product) AS checked
              FROM unnest(p_operators, p_amounts, p_products) WITH ORDINALITY AS u(operator, amount, product, ord)) i;
    IF out_body IS NOT NULL THEN
        out_status := 400;
        out_body := jsonb_build_object('items', out_body);
        RETURN;
    END IF;
    SELECT sum(a) INTO v_total FROM unnest(v_amounts) a;
    SELECT array_agg(id ORDER BY id) INTO v_ids
      FROM (SELECT nextval('recharges_recharge_id_seq') AS id FROM generate_series(1, v_count)) ids;
    v_tracked := operator_floats_tracked(p_operators);
    -- Sorted, so sales sharing new numbers take their unique-index locks in one order.
    INSERT INTO recharges_phonenumber (e164, created_at)
    SELECT DISTINCT e, now() FROM unnest(p_phones) e ORDER BY e
    ON CONFLICT (e164) DO NOTHING;
    INSERT INTO recharges_rechargebatch (seller_id, count, total_amount, idempotency_key, created_at)
    VALUES (p_seller, v_count, v_total, p_key, now())
    RETURNING id INTO v_batch;
    INSERT INTO recharges_recharge
           (id, seller_id, phone_number_id, amount, operator, product, commission_rate, batch_id, created_at,
            status, next_attempt_at, attempts, last_error, float_reserved)
    SELECT i.id, p_seller, pn.id, i.amount, i.operator, i.product, coalesce(c.rate, 0), v_batch, now(),
           'pending', now(), 0, '', coalesce(i.operator = ANY(v_tracked), false)
      FROM unnest(v_ids, p_phones, p_operators, v_amounts, p_products) AS i(id, phone, operator, amount, product)
      JOIN recharges_phonenumber pn ON pn.e164 = i.phone
      LEFT JOIN recharges_commissionrate c ON c.seller_id = p_seller AND c.operator_id = i.operator
     ORDER BY i.id;
    LOOP
        v_debit := ledger_post_debits(p_seller, v_ids, v_amounts, v_day);
        EXIT WHEN v_debit.out_balance IS NOT NULL;
        v_refusal := sale_refusal(p_seller, p_phones, v_amounts, v_day, v_ids);
        PERFORM sale_refused(v_refusal.out_status, v_refusal.out_body);
    END LOOP;
    IF v_debit.out_number_hourly_count IS NOT NULL THEN
        PERFORM sale_over_number_limit(p_seller, v_debit.out_number_hourly_count, p_phones, v_ids);
    END IF;
    out_status := 201;
    out_body := recharge_batch_json(v_batch);
    PERFORM idempotency_store(p_seller, p_key, 'recharge-batches', p_request_hash, out_status, out_body);
    IF v_tracked IS NOT NULL THEN
        PERFORM operator_float_reserve(v_tracked, p_operators, v_amounts);
    END IF;
END
$$;
