-- The operators among these whose float is tracked (a row in
-- recharges_operatorfloat), read without a lock: a sale reads it before it
-- writes its recharges (float_reserved), and reserves on these only at its
-- end (operator_float_reserve). Without tracked floats it is one probe of a
-- primary key, and NULL: the sale then takes no float lock at all.
CREATE OR REPLACE FUNCTION operator_floats_tracked(p_operators text[]) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT array_agg(operator_id) FROM recharges_operatorfloat WHERE operator_id = ANY(p_operators));
END
$$;
