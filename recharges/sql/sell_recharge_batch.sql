-- sell_recharge for many items, all or nothing, with one balance update:
-- each item becomes its own pending recharge and ledger entry, in item order
-- (ids ascend in item order). A refusal writes nothing: 400 with
-- {"items": [{"index", <operator_refusal>}, ...]}, or 402 with {"balance", "amount"}.
CREATE OR REPLACE FUNCTION sell_recharge_batch(
    p_seller bigint, p_phones text[], p_operators text[], p_amounts bigint[], p_key text, p_request_hash text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := cardinality(p_phones);
    v_total bigint;
    v_ids bigint[];
    v_batch bigint;
BEGIN
    SELECT * INTO out_status, out_body FROM idempotency_replay(p_seller, p_key, 'recharge-batches', p_request_hash);
    out_replayed := out_status IS NOT NULL;
    IF out_replayed THEN
        RETURN;
    END IF;
    SELECT jsonb_agg(jsonb_build_object('index', i.ord - 1) || i.refusal ORDER BY i.ord) INTO out_body
      FROM (SELECT ord, operator_refusal(operator, amount) AS refusal
              FROM unnest(p_operators, p_amounts) WITH ORDINALITY AS u(operator, amount, ord)) i
     WHERE i.refusal IS NOT NULL;
    IF out_body IS NOT NULL THEN
        out_status := 400;
        out_body := jsonb_build_object('items', out_body);
        RETURN;
    END IF;
    SELECT sum(a) INTO v_total FROM unnest(p_amounts) a;
    SELECT array_agg(id ORDER BY id) INTO v_ids
      FROM (SELECT nextval('recharges_recharge_id_seq') AS id FROM generate_series(1, v_count)) ids;
    IF ledger_post_debits(p_seller, v_ids, p_amounts) IS NULL THEN
        out_status := 402;
        out_body := jsonb_build_object('balance', (SELECT balance FROM sellers_seller WHERE id = p_seller), 'amount', v_total);
        RETURN;
    END IF;
    -- Sorted, so sales sharing new numbers take their unique-index locks in one order.
    INSERT INTO recharges_phonenumber (e164, created_at)
    SELECT DISTINCT e, now() FROM unnest(p_phones) e ORDER BY e
    ON CONFLICT (e164) DO NOTHING;
    INSERT INTO recharges_rechargebatch (seller_id, count, total_amount, idempotency_key, created_at)
    VALUES (p_seller, v_count, v_total, p_key, now())
    RETURNING id INTO v_batch;
    INSERT INTO recharges_recharge
           (id, seller_id, phone_number_id, amount, operator, batch_id, created_at,
            status, next_attempt_at, attempts, last_error)
    SELECT i.id, p_seller, pn.id, i.amount, i.operator, v_batch, now(), 'pending', now(), 0, ''
      FROM unnest(v_ids, p_phones, p_operators, p_amounts) AS i(id, phone, operator, amount)
      JOIN recharges_phonenumber pn ON pn.e164 = i.phone
     ORDER BY i.id;
    out_status := 201;
    out_body := recharge_batch_json(v_batch);
    PERFORM idempotency_store(p_seller, p_key, 'recharge-batches', p_request_hash, out_status, out_body);
END
$$;
