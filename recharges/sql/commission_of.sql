-- The commission a recharge of `amount` rials earns at `rate` basis points:
-- floor(amount * rate / 10000), computed without overflowing bigint (amount
-- may be 10^15, rate 10^4).
CREATE OR REPLACE FUNCTION commission_of(p_amount bigint, p_rate integer) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (p_amount / 10000) * p_rate + (p_amount % 10000) * p_rate / 10000
$$;
