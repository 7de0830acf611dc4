-- Records a change to a money-relevant setting in audit_event. Arguments:
-- kind, the table's key column, the column naming the seller ('' for none)
-- and whether it holds the seller's id ('seller') or its user's ('user'),
-- then the columns kept in before/after (secrets such as token digests and
-- callback secrets are never copied). Who and from where: the context that
-- django-pghistory's middleware sets with each write. Without one (psql, a
-- script) the database role and the connection's address say where it came from.
CREATE OR REPLACE FUNCTION audit_record() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_row jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
    v_keep text[] := TG_ARGV[4:];
    v_context jsonb := nullif(current_setting('pghistory.context_metadata', true), '')::jsonb;
    v_seller bigint;
    v_before jsonb;
    v_after jsonb;
BEGIN
    IF TG_ARGV[2] <> '' THEN
        v_seller := (v_row ->> TG_ARGV[2])::bigint;
        IF TG_ARGV[3] = 'user' THEN
            SELECT id INTO v_seller FROM sellers_seller WHERE user_id = v_seller;
        END IF;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        SELECT jsonb_object_agg(key, value) INTO v_before FROM jsonb_each(to_jsonb(OLD)) WHERE key = ANY (v_keep);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        SELECT jsonb_object_agg(key, value) INTO v_after FROM jsonb_each(to_jsonb(NEW)) WHERE key = ANY (v_keep);
    END IF;
    INSERT INTO audit_event (created_at, kind, action, "table", object_id, seller_id, actor_id, address, path, db_role, before, after)
    VALUES (
        now(), TG_ARGV[0], TG_OP, TG_TABLE_NAME, v_row ->> TG_ARGV[1], v_seller, (v_context ->> 'user')::integer,
        CASE WHEN v_context IS NULL THEN inet_client_addr() ELSE (v_context ->> 'address')::inet END,
        coalesce(left(v_context ->> 'url', 255), ''), session_user, v_before, v_after
    );
    RETURN NULL;
END
$$;

-- Credit requests: their decisions (status changes), with who decided.
CREATE OR REPLACE TRIGGER audit_credit_request_decided
AFTER UPDATE OF status ON credits_creditrequest
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION audit_record('credit_request', 'id', 'seller_id', 'seller', 'id', 'amount', 'status', 'first_approved_by_id', 'decided_by_id', 'decided_at');

CREATE OR REPLACE TRIGGER audit_balance_adjustment
AFTER INSERT ON ledger_balanceadjustment
FOR EACH ROW EXECUTE FUNCTION audit_record('balance_adjustment', 'id', 'seller_id', 'seller', 'id', 'amount', 'reason', 'status', 'created_by_id', 'approved_by_id');

-- Four eyes: the second approval that applies a waiting adjustment, or its rejection.
CREATE OR REPLACE TRIGGER audit_balance_adjustment_approved
AFTER UPDATE OF status ON ledger_balanceadjustment
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION audit_record('balance_adjustment', 'id', 'seller_id', 'seller', 'id', 'amount', 'reason', 'status', 'created_by_id', 'approved_by_id', 'rejected_by_id');

CREATE OR REPLACE TRIGGER audit_commission_rate
AFTER INSERT OR DELETE ON recharges_commissionrate
FOR EACH ROW EXECUTE FUNCTION audit_record('commission_rate', 'id', 'seller_id', 'seller', 'operator_id', 'rate');

CREATE OR REPLACE TRIGGER audit_commission_rate_changed
AFTER UPDATE ON recharges_commissionrate
FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
EXECUTE FUNCTION audit_record('commission_rate', 'id', 'seller_id', 'seller', 'operator_id', 'rate');

-- Only the seller's limits and networks: a sale updates the same row (balance,
-- ledger sequence, the day's running total) without naming these columns, so
-- this trigger is not even evaluated then.
CREATE OR REPLACE TRIGGER audit_seller_settings
AFTER UPDATE OF max_recharge_amount, daily_amount, number_hourly_count, low_balance_threshold, allowed_networks
ON sellers_seller
FOR EACH ROW WHEN (
    (OLD.max_recharge_amount, OLD.daily_amount, OLD.number_hourly_count, OLD.low_balance_threshold, OLD.allowed_networks)
    IS DISTINCT FROM
    (NEW.max_recharge_amount, NEW.daily_amount, NEW.number_hourly_count, NEW.low_balance_threshold, NEW.allowed_networks)
)
EXECUTE FUNCTION audit_record('seller_settings', 'id', 'id', 'seller', 'max_recharge_amount', 'daily_amount', 'number_hourly_count', 'low_balance_threshold', 'allowed_networks');

-- API tokens issued and revoked (a rotation is both); never the digest.
CREATE OR REPLACE TRIGGER audit_api_token
AFTER INSERT OR DELETE ON knox_authtoken
FOR EACH ROW EXECUTE FUNCTION audit_record('api_token', 'token_key', 'user_id', 'user', 'token_key', 'user_id', 'expiry');

-- Callback URLs; never the signing secret.
CREATE OR REPLACE TRIGGER audit_callback_endpoint
AFTER INSERT OR DELETE ON callbacks_callbackendpoint
FOR EACH ROW EXECUTE FUNCTION audit_record('callback_endpoint', 'id', 'seller_id', 'seller', 'url');

CREATE OR REPLACE TRIGGER audit_callback_endpoint_url
AFTER UPDATE OF url ON callbacks_callbackendpoint
FOR EACH ROW WHEN (OLD.url IS DISTINCT FROM NEW.url)
EXECUTE FUNCTION audit_record('callback_endpoint', 'id', 'seller_id', 'seller', 'url');

CREATE OR REPLACE TRIGGER audit_operator
AFTER INSERT OR DELETE ON recharges_operator
FOR EACH ROW EXECUTE FUNCTION audit_record('operator', 'code', '', '', 'code', 'name', 'name_fa', 'enabled', 'min_amount', 'max_amount', 'denominations');

CREATE OR REPLACE TRIGGER audit_operator_changed
AFTER UPDATE ON recharges_operator
FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
EXECUTE FUNCTION audit_record('operator', 'code', '', '', 'code', 'name', 'name_fa', 'enabled', 'min_amount', 'max_amount', 'denominations');

CREATE OR REPLACE TRIGGER audit_product
AFTER INSERT OR DELETE ON recharges_product
FOR EACH ROW EXECUTE FUNCTION audit_record('product', 'code', '', '', 'code', 'operator_id', 'name', 'name_fa', 'amount', 'data_mb', 'validity_days', 'enabled');

CREATE OR REPLACE TRIGGER audit_product_changed
AFTER UPDATE ON recharges_product
FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
EXECUTE FUNCTION audit_record('product', 'code', '', '', 'code', 'operator_id', 'name', 'name_fa', 'amount', 'data_mb', 'validity_days', 'enabled');

-- Staff permissions: the flags (a new staff user too), groups, permissions.
CREATE OR REPLACE TRIGGER audit_staff_user
AFTER INSERT ON auth_user
FOR EACH ROW WHEN (NEW.is_staff OR NEW.is_superuser)
EXECUTE FUNCTION audit_record('staff_user', 'id', 'id', 'user', 'username', 'is_staff', 'is_superuser', 'is_active');

CREATE OR REPLACE TRIGGER audit_staff_user_changed
AFTER UPDATE OF is_staff, is_superuser, is_active ON auth_user
FOR EACH ROW WHEN ((OLD.is_staff, OLD.is_superuser, OLD.is_active) IS DISTINCT FROM (NEW.is_staff, NEW.is_superuser, NEW.is_active))
EXECUTE FUNCTION audit_record('staff_user', 'id', 'id', 'user', 'username', 'is_staff', 'is_superuser', 'is_active');

CREATE OR REPLACE TRIGGER audit_user_group
AFTER INSERT OR DELETE ON auth_user_groups
FOR EACH ROW EXECUTE FUNCTION audit_record('user_group', 'id', 'user_id', 'user', 'user_id', 'group_id');

CREATE OR REPLACE TRIGGER audit_user_permission
AFTER INSERT OR DELETE ON auth_user_user_permissions
FOR EACH ROW EXECUTE FUNCTION audit_record('user_permission', 'id', 'user_id', 'user', 'user_id', 'permission_id');

CREATE OR REPLACE TRIGGER audit_group_permission
AFTER INSERT OR DELETE ON auth_group_permissions
FOR EACH ROW EXECUTE FUNCTION audit_record('group_permission', 'id', '', '', 'group_id', 'permission_id');
