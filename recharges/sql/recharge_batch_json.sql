-- The one rendering of a batch: its 201 (stored for replays) and its GET.
-- PL/pgSQL for its kept plan, as recharge_json.
CREATE OR REPLACE FUNCTION recharge_batch_json(p_batch bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
               'id', b.id, 'count', b.count, 'total_amount', b.total_amount,
               'balance_after', items.list -> -1 -> 'balance_after', 'recharges', items.list)
      FROM recharges_rechargebatch b,
           LATERAL (SELECT jsonb_agg(recharge_json(r.id) ORDER BY r.id) AS list
                      FROM recharges_recharge r WHERE r.batch_id = b.id) items
     WHERE b.id = p_batch);
END
$$;
