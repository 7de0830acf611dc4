-- A timestamp as the API writes it (DRF's DATETIME_FORMAT in config/settings.py:
-- UTC, microseconds, "Z"); tests/recharges check that both agree.
CREATE OR REPLACE FUNCTION api_time(p_time timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(p_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;
