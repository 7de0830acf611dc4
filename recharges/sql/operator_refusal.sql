-- Why an operator does not take this top-up, or NULL if it does: the code is
-- unknown, the operator is disabled, or the amount is outside its range.
-- Staff edit operators in the admin; the sale reads them here, in its own
-- statement, so an edit applies to the next sale on every server.
CREATE OR REPLACE FUNCTION operator_refusal(p_operator text, p_amount bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_operator recharges_operator%ROWTYPE;
BEGIN
    SELECT * INTO v_operator FROM recharges_operator WHERE code = p_operator;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('operator', p_operator, 'problem', 'unknown');
    ELSIF NOT v_operator.enabled THEN
        RETURN jsonb_build_object('operator', p_operator, 'problem', 'disabled');
    ELSIF p_amount NOT BETWEEN v_operator.min_amount AND v_operator.max_amount THEN
        RETURN jsonb_build_object('operator', p_operator, 'problem', 'amount',
                                  'min_amount', v_operator.min_amount, 'max_amount', v_operator.max_amount);
    END IF;
    RETURN NULL;
END
$$;
