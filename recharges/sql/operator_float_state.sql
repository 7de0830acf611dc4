-- Each tracked operator float as staff and the alerts read it: the balance,
-- what is pending on it, what is available for sales (balance - pending),
-- its burn rate (rials drawn by deliveries in the last hour) and the hours
-- the available float lasts at that rate (NULL when nothing was drawn), and
-- the hours under which it warns. One pass over the last hour's draws
-- (the BRIN index on created_at), whatever the size of the history.
CREATE OR REPLACE FUNCTION operator_float_state(
    OUT operator text, OUT balance bigint, OUT pending bigint, OUT available bigint, OUT burn_per_hour bigint,
    OUT hours_left double precision, OUT alert_below_hours integer
) RETURNS SETOF record
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT f.operator_id::text, f.balance, f.pending, f.balance - f.pending, coalesce(d.drawn, 0)::bigint,
           CASE WHEN d.drawn > 0 THEN (f.balance - f.pending)::double precision / d.drawn END,
           f.alert_below_hours
      FROM recharges_operatorfloat f
      LEFT JOIN (SELECT e.operator_id, -sum(e.amount) AS drawn
                   FROM recharges_floatentry e
                  WHERE e.kind = 'draw' AND e.created_at >= now() - interval '1 hour'
                  GROUP BY e.operator_id) d ON d.operator_id = f.operator_id
     ORDER BY f.operator_id;
END
$$;
