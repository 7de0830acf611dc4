-- Four eyes: the second approval that applies a waiting adjustment, or its rejection.
CREATE OR REPLACE TRIGGER audit_balance_adjustment_approved
AFTER UPDATE OF status ON ledger_balanceadjustment
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION audit_record('balance_adjustment', 'id', 'seller_id', 'seller', 'id', 'amount', 'reason', 'status', 'created_by_id', 'approved_by_id', 'rejected_by_id');
--- reverse
-- Four eyes: the second approval that applies a waiting adjustment.
CREATE OR REPLACE TRIGGER audit_balance_adjustment_approved
AFTER UPDATE OF status ON ledger_balanceadjustment
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION audit_record('balance_adjustment', 'id', 'seller_id', 'seller', 'id', 'amount', 'reason', 'status', 'created_by_id', 'approved_by_id');
