DROP TRIGGER IF EXISTS recharge_successful_is_commissioned ON recharges_recharge;
CREATE CONSTRAINT TRIGGER recharge_successful_is_commissioned
AFTER INSERT OR UPDATE OF status ON recharges_recharge
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.status = 'successful' AND commission_of(NEW.amount, NEW.commission_rate) > 0)
EXECUTE FUNCTION recharge_successful_is_commissioned();

DROP TRIGGER IF EXISTS recharge_failed_is_refunded ON recharges_recharge;
CREATE CONSTRAINT TRIGGER recharge_failed_is_refunded
AFTER INSERT OR UPDATE OF status ON recharges_recharge
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.status = 'failed') EXECUTE FUNCTION recharge_failed_is_refunded();

--- reverse
DROP TRIGGER recharge_successful_is_commissioned ON recharges_recharge;
CREATE CONSTRAINT TRIGGER recharge_successful_is_commissioned
AFTER UPDATE OF status ON recharges_recharge
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.status = 'successful' AND commission_of(NEW.amount, NEW.commission_rate) > 0)
EXECUTE FUNCTION recharge_successful_is_commissioned();

DROP TRIGGER recharge_failed_is_refunded ON recharges_recharge;
CREATE CONSTRAINT TRIGGER recharge_failed_is_refunded
AFTER UPDATE OF status ON recharges_recharge
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.status = 'failed') EXECUTE FUNCTION recharge_failed_is_refunded();
