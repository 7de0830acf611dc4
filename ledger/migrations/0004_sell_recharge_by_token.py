"""A sale in one round trip: the token's seller and the sale in one statement.

ledger_sell_recharge_by_token finds the seller whose valid token has this
digest (the rules of config.api.TokenAuthentication: unexpired token, active
non-staff user, a seller) and sells as ledger_sell_recharge does. For any other
token it returns NULLs and writes nothing: the caller then goes the general way,
where authentication gives the error. Expiry is judged by the database's clock
at the statement's start, as TokenAuthentication judges it, so app servers
with skewed clocks cannot make the two paths disagree. PL/pgSQL keeps the
lookup's plan, so it is not planned on every sale as the same query sent from
Python is.
"""

from django.db import migrations

SQL = """
CREATE FUNCTION ledger_sell_recharge_by_token(
    p_digest text, p_phone text, p_amount bigint, p_key text, p_request_hash text,
    OUT out_status integer, OUT out_body jsonb, OUT out_replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_seller bigint;
BEGIN
    SELECT s.id INTO v_seller
      FROM knox_authtoken t
      JOIN auth_user u ON u.id = t.user_id
      JOIN sellers_seller s ON s.user_id = u.id
     WHERE t.digest = p_digest AND (t.expiry IS NULL OR t.expiry >= statement_timestamp()) AND u.is_active AND NOT u.is_staff;
    IF FOUND THEN
        SELECT * INTO out_status, out_body, out_replayed
          FROM ledger_sell_recharge(v_seller, p_phone, p_amount, p_key, p_request_hash);
    END IF;
END
$$;
"""

REVERSE = "DROP FUNCTION ledger_sell_recharge_by_token(text, text, bigint, text, text);"


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0003_database_rules"),
        ("knox", "0009_extend_authtoken_field"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
