-- The business day an instant falls on: its date in the business time zone
-- (settings.BUSINESS_TIME_ZONE, passed by the caller), as reports count days.
CREATE OR REPLACE FUNCTION business_day(p_time timestamptz, p_time_zone text) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT (p_time AT TIME ZONE p_time_zone)::date
$$;
