-- A sale in one round trip: finds the seller whose valid API token has this
-- digest (the rules of config.api.TokenAuthentication: unexpired knox token,
-- active non-staff user, a seller) and sells as sell_recharge does. For any
-- other token it returns NULLs and writes nothing: the caller then goes the
-- general way, where authentication gives the error. Expiry is judged by the
-- database's clock, as TokenAuthentication judges it. A seller whose token is
-- bound to networks goes the general way too: only there is the client's
-- address known and checked (sellers.authentication).
CREATE OR REPLACE FUNCTION sell_recharge_by_token(
    p_digest text, p_phone text, p_operator text, p_amount bigint, p_product text, p_key text, p_request_hash text,
    p_time_zone text,
    OUT out_seller bigint, OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_sale record;
BEGIN
    SELECT s.id INTO out_seller
      FROM knox_authtoken t
      JOIN auth_user u ON u.id = t.user_id
      JOIN sellers_seller s ON s.user_id = u.id
     WHERE t.digest = p_digest AND (t.expiry IS NULL OR t.expiry >= statement_timestamp()) AND u.is_active AND NOT u.is_staff
       AND cardinality(s.allowed_networks) = 0;
    IF FOUND THEN
        v_sale := sell_recharge(out_seller, p_phone, p_operator, p_amount, p_product, p_key, p_request_hash, p_time_zone);
        out_status := v_sale.out_status;
        out_body := v_sale.out_body;
        out_replayed := v_sale.out_replayed;
    END IF;
END
$$;
