-- Draws the floats down by recharges this transaction has just made
-- successful: for each tracked operator, the balance falls by their total
-- and pending by the part they had reserved, and each recharge gets its
-- entry, continuing the operator's running balance (entries in recharge id
-- order). The float rows are locked first, in operator order, after the
-- recharges and their sellers (recharges/delivery.py, "Lock order"). A
-- recharge sold before its operator's float was tracked draws too (the
-- operator charged it), reserved nothing; if the float cannot cover it the
-- CHECK refuses the success, which then waits for staff. A recharge draws
-- once (UNIQUE on its entry).
CREATE OR REPLACE FUNCTION operator_float_draw(p_recharges bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM recharges_operatorfloat
     WHERE operator_id IN (SELECT operator FROM recharges_recharge WHERE id = ANY(p_recharges))
     ORDER BY operator_id
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    WITH drawn AS (
        SELECT r.id, r.operator, r.amount, r.float_reserved,
               sum(r.amount) OVER w AS running, row_number() OVER w AS n
          FROM recharges_recharge r
          JOIN recharges_operatorfloat f ON f.operator_id = r.operator
         WHERE r.id = ANY(p_recharges) AND r.status = 'successful'
        WINDOW w AS (PARTITION BY r.operator ORDER BY r.id)
    ), totals AS (
        SELECT operator, sum(amount) AS total, coalesce(sum(amount) FILTER (WHERE float_reserved), 0) AS reserved,
               count(*) AS entries
          FROM drawn GROUP BY operator
    ), moved AS (
        UPDATE recharges_operatorfloat f
           SET balance = f.balance - t.total, pending = f.pending - t.reserved, sequence = f.sequence + t.entries
          FROM totals t
         WHERE f.operator_id = t.operator
        RETURNING f.operator_id, f.balance + t.total AS balance_before, f.sequence - t.entries AS sequence_before
    )
    INSERT INTO recharges_floatentry (operator_id, sequence, kind, amount, balance_after, recharge_id, note, created_at)
    SELECT d.operator, m.sequence_before + d.n, 'draw', -d.amount, m.balance_before - d.running, d.id, '', now()
      FROM drawn d JOIN moved m ON m.operator_id = d.operator
     ORDER BY d.operator, d.n;  -- each entry after its predecessor (float_entry_running_balance)
END
$$;
