-- Float entries are never updated or deleted.
CREATE OR REPLACE FUNCTION float_entry_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'float entries are append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation', CONSTRAINT = 'float_entry_append_only';
END
$$;

CREATE OR REPLACE TRIGGER float_entry_append_only
BEFORE UPDATE OR DELETE ON recharges_floatentry
FOR EACH ROW EXECUTE FUNCTION float_entry_append_only();
