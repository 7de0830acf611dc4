-- A decided adjustment (applied: its entry is posted; or rejected) never
-- changes; one waiting for its second approval may only become applied, with
-- its second approver, or rejected, nothing else changed.
CREATE OR REPLACE FUNCTION adjustment_frozen_once_applied() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('applied', 'rejected') AND NEW IS DISTINCT FROM OLD
       OR NEW.seller_id IS DISTINCT FROM OLD.seller_id
       OR NEW.amount IS DISTINCT FROM OLD.amount
       OR NEW.reason IS DISTINCT FROM OLD.reason
       OR NEW.created_by_id IS DISTINCT FROM OLD.created_by_id
       OR NEW.created_at IS DISTINCT FROM OLD.created_at
       OR NEW.status = 'applied' AND NEW.approved_by_id IS NULL AND OLD.status <> 'applied' THEN
        RAISE EXCEPTION 'adjustment % is %; it cannot change', OLD.id, OLD.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'adjustment_frozen_once_applied';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER adjustment_frozen_once_applied
BEFORE UPDATE ON ledger_balanceadjustment
FOR EACH ROW EXECUTE FUNCTION adjustment_frozen_once_applied();
--- reverse
CREATE OR REPLACE FUNCTION adjustment_frozen_once_applied() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'applied' AND NEW IS DISTINCT FROM OLD
       OR NEW.seller_id IS DISTINCT FROM OLD.seller_id
       OR NEW.amount IS DISTINCT FROM OLD.amount
       OR NEW.reason IS DISTINCT FROM OLD.reason
       OR NEW.created_by_id IS DISTINCT FROM OLD.created_by_id
       OR NEW.created_at IS DISTINCT FROM OLD.created_at
       OR NEW.status = 'applied' AND NEW.approved_by_id IS NULL AND OLD.status <> 'applied' THEN
        RAISE EXCEPTION 'adjustment % is %; it cannot change', OLD.id, OLD.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'adjustment_frozen_once_applied';
    END IF;
    RETURN NEW;
END
$$;
