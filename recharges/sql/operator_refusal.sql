-- What a sale item sells, or why it cannot be sold. out_amount is the amount
-- to debit: the package's for a product (an amount sent with it must equal
-- it), else the amount asked. out_refusal is NULL, or a 400's reason: the
-- operator is unknown or disabled; airtime outside the operator's range or
-- not one of its denominations; a product unknown, disabled, of another
-- operator or of another amount. Staff edit operators and products in the
-- admin; the sale reads them here, in its own statement, so an edit applies
-- to the next sale on every server.
CREATE OR REPLACE FUNCTION operator_refusal(
    p_operator text, p_amount bigint, p_product text, OUT out_amount bigint, OUT out_refusal jsonb
)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_operator recharges_operator%ROWTYPE;
    v_product recharges_product%ROWTYPE;
BEGIN
    out_amount := p_amount;
    SELECT * INTO v_operator FROM recharges_operator WHERE code = p_operator;
    IF NOT FOUND THEN
        out_refusal := jsonb_build_object('operator', p_operator, 'problem', 'unknown');
    ELSIF NOT v_operator.enabled THEN
        out_refusal := jsonb_build_object('operator', p_operator, 'problem', 'disabled');
    ELSIF p_product IS NOT NULL THEN
        SELECT * INTO v_product FROM recharges_product WHERE code = p_product;
        IF NOT FOUND OR NOT v_product.enabled THEN
            out_refusal := jsonb_build_object('product', p_product, 'problem', CASE WHEN FOUND THEN 'product_disabled' ELSE 'product_unknown' END);
        ELSIF v_product.operator_id <> p_operator THEN
            out_refusal := jsonb_build_object('product', p_product, 'problem', 'product_operator',
                                              'operator', p_operator, 'product_operator', v_product.operator_id);
        ELSIF p_amount IS NOT NULL AND p_amount <> v_product.amount THEN
            out_refusal := jsonb_build_object('product', p_product, 'problem', 'product_amount', 'amount', v_product.amount);
        END IF;
        out_amount := v_product.amount;
    ELSIF p_amount NOT BETWEEN v_operator.min_amount AND v_operator.max_amount THEN
        out_refusal := jsonb_build_object('operator', p_operator, 'problem', 'amount',
                                          'min_amount', v_operator.min_amount, 'max_amount', v_operator.max_amount);
    ELSIF v_operator.denominations IS NOT NULL AND p_amount <> ALL (v_operator.denominations) THEN
        out_refusal := jsonb_build_object('operator', p_operator, 'problem', 'denomination',
                                          'denominations', to_jsonb(v_operator.denominations));
    END IF;
END
$$;
