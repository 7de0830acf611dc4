-- Reserves, on the float of each tracked operator (one with a row in
-- recharges_operatorfloat), what a sale sells of it: pending grows by the
-- items' total. Called last in the sale statement, after everything else is
-- written, so that the float rows (every sale to the operator takes its row)
-- are held only until the commit, and taken after every other lock of the
-- sale; in operator order, so that batches to several operators never wait
-- in a cycle. Raises operator_unavailable (the 409's details as the DETAIL,
-- JSON) when a float, less what is pending on it, cannot cover its items:
-- that undoes the whole statement. p_tracked is what the sale read of the
-- floats before (operator_floats_tracked): an operator that began to be
-- tracked since is not reserved, as its recharges say (float_reserved).
CREATE OR REPLACE FUNCTION operator_float_reserve(p_tracked text[], p_operators text[], p_amounts bigint[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_refused text;
BEGIN
    PERFORM 1 FROM recharges_operatorfloat WHERE operator_id = ANY(p_tracked) ORDER BY operator_id FOR NO KEY UPDATE;
    WITH wanted AS (
        SELECT operator, sum(amount) AS total
          FROM unnest(p_operators, p_amounts) AS i(operator, amount)
         WHERE operator = ANY(p_tracked)
         GROUP BY operator
    )
    SELECT f.operator_id INTO v_refused
      FROM recharges_operatorfloat f JOIN wanted w ON w.operator = f.operator_id
     WHERE f.balance - f.pending < w.total
     ORDER BY f.operator_id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'operator_unavailable' USING ERRCODE = 'check_violation', CONSTRAINT = 'operator_unavailable',
            DETAIL = jsonb_build_object('operator', v_refused)::text;
    END IF;
    UPDATE recharges_operatorfloat f
       SET pending = f.pending + w.total
      FROM (SELECT operator, sum(amount) AS total
              FROM unnest(p_operators, p_amounts) AS i(operator, amount)
             WHERE operator = ANY(p_tracked)
             GROUP BY operator) w
     WHERE f.operator_id = w.operator;
END
$$;
