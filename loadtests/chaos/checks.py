"""The checks after a run, from the clients' records and the database's
facts: one ledger entry per acknowledged success, one effect per key, replays,
the contract's 503s, the server log, recovery after a restart. A mixin of
`Run` (loadtests/chaos/run.py)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from itertools import pairwise

from loadtests.chaos.clients import _retriable
from loadtests.chaos.config import PHASES_ALL, ChaosConfig
from loadtests.chaos.report import Check, Report, outcome_label


class Checks:
    # The Run's state that the checks use.
    config: ChaosConfig
    report: Report
    restarts: list[dict]

    def _check(self, ops: list, facts: dict, seeded, hot) -> None:
        """Adds each check to the report, in the order the table shows them."""
        attempts = [a for op in ops for a in op["attempts"]]
        self._check_successes_have_one_entry(ops, facts)
        self._check_one_effect_per_key(facts)
        self._check_replays(ops)
        self._check_books(facts)
        self._check_responses(ops, attempts)
        self._check_server_log()
        self._check_final_answers(ops)
        self._summaries(ops, attempts, facts, hot)

    def _check_successes_have_one_entry(self, ops: list, facts: dict) -> None:
        """Every success a client saw has exactly one ledger entry (and the row is the one it asked for)."""
        recharges = {row[0]: row for row in facts["recharges"]}
        entries = {
            "recharge": dict(map(tuple, facts["entries_per_recharge"])),
            "adjustment": dict(map(tuple, facts["entries_per_adjustment"])),
            "approve": dict(map(tuple, facts["entries_per_credit_request"])),
        }
        seen_ok: Counter[str] = Counter()
        missing: list[tuple] = []
        for op in ops:
            kind, final = op["kind"], op["final"]
            if kind == "recharge" and final.get("status") == 201:
                seen_ok[kind] += 1
                row = recharges.get(final.get("id"))
                if (
                    entries["recharge"].get(final.get("id")) != 1
                    or row is None
                    or row[2] != op["body"]["amount"]
                    or row[3] != op["key"]
                ):
                    missing.append((kind, final.get("id"), op["key"]))
            elif kind == "adjustment" and final.get("status") == 201:
                seen_ok[kind] += 1
                if entries["adjustment"].get(final.get("id")) != 1:
                    missing.append((kind, final.get("id"), op["key"]))
            elif kind == "approve" and final.get("status") == 200 and final.get("state") == "approved":
                seen_ok[kind] += 1
                if entries["approve"].get(op["credit_request_id"]) != 1:
                    missing.append((kind, op["credit_request_id"], None))
        self._add(
            "every 2xx has exactly one ledger entry",
            not missing,
            f"{sum(seen_ok.values())} checked ({', '.join(f'{k} {v}' for k, v in sorted(seen_ok.items()))})"
            + (f"; WRONG: {missing[:5]}" if missing else ""),
        )

    def _check_one_effect_per_key(self, facts: dict) -> None:
        """No recharge debited twice: at most one recharge per (seller, key); each recharge has one entry."""
        entries_per_recharge = dict(map(tuple, facts["entries_per_recharge"]))
        per_key = Counter((row[1], row[3]) for row in facts["recharges"] if row[3])
        twice = [key for key, count in per_key.items() if count > 1]
        no_entry = [rid for rid, count in entries_per_recharge.items() if count != 1]
        unkeyed = sum(1 for row in facts["recharges"] if not row[3])
        self._add(
            "at most one recharge per Idempotency-Key",
            not twice and not no_entry and not unkeyed,
            f"{len(per_key)} keys, {len(facts['recharges'])} recharges"
            + (f"; TWICE: {twice[:5]}" if twice else "")
            + (f"; recharges without exactly one entry: {no_entry[:5]}" if no_entry else ""),
        )
        adjustment_keys = Counter(row[3] for row in facts["adjustments"] if row[3].startswith("chaos "))
        applied_twice = [reason for reason, count in adjustment_keys.items() if count > 1]
        self._add(
            "at most one adjustment per Idempotency-Key",
            not applied_twice,
            f"{len(adjustment_keys)} keys" + (f"; APPLIED TWICE: {applied_twice[:5]}" if applied_twice else ""),
        )

    def _check_replays(self, ops: list) -> None:
        """Replays give the first response: every 2xx for one key names the same recharge."""
        inconsistent = []
        for op in ops:
            ids = {a.get("id") for a in op["attempts"] if a.get("status") in (200, 201) and op["kind"] == "recharge"}
            if len(ids) > 1:
                inconsistent.append(op["key"])
        double_taps = defaultdict(set)
        for op in ops:
            if op.get("double_tap") and op["final"].get("status") == 201:
                double_taps[op["key"]].add(op["final"].get("id"))
        inconsistent += [key for key, ids in double_taps.items() if len(ids) > 1]
        self._add(
            "replays return the first response",
            not inconsistent,
            f"{sum(1 for op in ops if any(a.get('replayed') for a in op['attempts']))} replayed, "
            f"{len(double_taps)} double taps" + (f"; DIFFERENT: {inconsistent[:5]}" if inconsistent else ""),
        )

    def _check_books(self, facts: dict) -> None:
        self._add(
            "reconcile clean",
            not facts["reconcile"],
            json.dumps(facts["reconcile"][:5]) if facts["reconcile"] else "0 problems",
        )
        balances = [row[1] for row in facts["sellers"]]
        self._add(
            "no negative balance", min(balances) >= 0, f"min balance {min(balances)} over {len(balances)} sellers"
        )

    def _check_responses(self, ops: list, attempts: list) -> None:
        """Every 5xx is the contract's 503, and a 503 wrote nothing."""
        bad = [a for a in attempts if (a.get("status") or 0) >= 500 and not a.get("contract_503")]
        self.report.bad_responses = [
            {"phase": a["phase"], "status": a["status"], "body": a.get("body"), "retry_after": a.get("retry_after")}
            for a in bad[:20]
        ]
        good_503 = sum(1 for a in attempts if a.get("contract_503"))
        self._add(
            "every 5xx is 503 service_unavailable + Retry-After + details.outcome",
            not bad,
            f"{good_503} contract 503s"
            + (f"; {len(bad)} OTHER 5xx, first: {self.report.bad_responses[:2]}" if bad else ", 0 other 5xx"),
        )
        # A 503 with outcome not_written promises nothing was written: the same key
        # must not later replay a success (outcome unknown promises nothing).
        broken_promises = []
        for op in ops:
            for earlier, later in pairwise(op["attempts"]):
                promised = earlier.get("contract_503") and earlier.get("outcome") == "not_written"
                if promised and later.get("replayed") and later.get("status") in (200, 201):
                    broken_promises.append(op["key"])
        self._add(
            "a not_written 503 wrote nothing (no later replay of a success)",
            not broken_promises,
            f"{len(broken_promises)} broken" + (f": {broken_promises[:5]}" if broken_promises else ""),
        )

    def _check_server_log(self) -> None:
        server_500s = [e for e in self.report.server_errors if not e["line"].startswith("WORKER TIMEOUT")]
        summary = Counter((e["phase"], e["line"][:60], tuple(e["exception"])) for e in server_500s)
        self._add(
            "no 500 logged by the server",
            not server_500s,
            f"{len(server_500s)} logged" + (f": {list(summary.items())[:3]}" if server_500s else ""),
        )
        timeouts = [e for e in self.report.server_errors if e["line"].startswith("WORKER TIMEOUT")]
        self._add("no hung worker (gunicorn WORKER TIMEOUT)", not timeouts, f"{len(timeouts)} worker timeouts")

    def _check_final_answers(self, ops: list) -> None:
        gave_up = [op for op in ops if op["final"].get("status") is None or _retriable(op["final"])]
        self._add(
            "every operation got a final answer",
            not gave_up,
            f"{len(ops)} operations, {len(gave_up)} gave up after {self.config.op_deadline:.0f} s"
            + (f": {[(op['kind'], op['final']) for op in gave_up[:3]]}" if gave_up else ""),
        )

    def _add(self, name: str, ok: bool, detail: str) -> None:
        self.report.checks.append(Check(name, ok, detail))

    def _summaries(self, ops, attempts, facts, hot) -> None:
        report = self.report
        by_kind: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for op in ops:
            label = op.get("disconnect") and f"recharge after disconnect ({op['disconnect']})"
            kind = label or ("storm " + op["kind"] if op.get("storm") else op["kind"])
            by_kind[kind][outcome_label(op["final"])] += 1
            by_kind[kind]["attempts"] += len(op["attempts"])
        report.operations = {kind: dict(counter) for kind, counter in sorted(by_kind.items())}
        statuses: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for attempt in attempts:
            statuses[attempt["phase"]][outcome_label(attempt)] += 1
        report.statuses = {phase: dict(statuses[phase]) for phase in PHASES_ALL if phase in statuses}
        credited = sum(row[2] for row in facts["credit_requests"] if row[3] == "approved")
        debited = sum(row[2] for row in facts["recharges"])
        refunded = sum(amount for _, amount in facts["refunds"])
        adjusted = sum(row[2] for row in facts["adjustments"])
        commissioned = sum(amount for _, amount in facts["commissions"])
        acknowledged = {
            op["final"].get("id") for op in ops if op["kind"] == "recharge" and op["final"].get("status") == 201
        }
        report.money = {
            "sellers": len(facts["sellers"]),
            "credited (approved requests)": credited,
            "debited (recharges)": debited,
            "refunded (failed recharges)": refunded,
            "adjusted (net)": adjusted,
            "commissions (successful recharges)": commissioned,
            "sum of balances": sum(row[1] for row in facts["sellers"]),
            "credited - debited + refunded + adjusted + commissions": credited
            - debited
            + refunded
            + adjusted
            + commissioned,
            "recharges written but never acknowledged": len({row[0] for row in facts["recharges"]} - acknowledged),
            "hot seller balance": next(row[1] for row in facts["sellers"] if row[0] == hot["seller_id"]),
        }
        unacknowledged = report.money["recharges written but never acknowledged"]
        self._add(
            "every recharge written was acknowledged (201) to its terminal",
            unacknowledged == 0,
            f"{unacknowledged} written without a 201 reaching the client that asked",
        )
        if report.money["sum of balances"] != report.money["credited - debited + refunded + adjusted + commissions"]:
            self._add(
                "money adds up", False, "sum of balances != credited - debited + refunded + adjusted + commissions"
            )
        else:
            self._add(
                "money adds up", True, f"{report.money['sum of balances']} IRR across {len(facts['sellers'])} sellers"
            )
        for restart in getattr(self, "restarts", []):
            began = restart["began"]
            after = sorted((a for a in attempts if a["sent"] >= began or a["done"] >= began), key=lambda a: a["done"])
            failures = [a for a in after if a.get("status") is None or a["status"] >= 500]
            first_failure = failures[0]["done"] if failures else None
            anchor = first_failure or began
            ok_after = [a for a in after if a.get("status") and a["status"] < 300 and a["sent"] >= anchor]
            first_ok = ok_after[0]["done"] if ok_after else None
            report.recovery.setdefault("restarts", []).append(
                {
                    "pg_ctl restart took": f"{restart['pg_ctl_seconds']:.2f} s",
                    "first failure after restart began": f"{first_failure - began:.2f} s"
                    if first_failure
                    else "none seen",
                    "first 2xx after the outage (from restart begin)": f"{first_ok - began:.2f} s"
                    if first_ok
                    else "NEVER",
                    "failed attempts in between": sum(1 for a in failures if first_ok is None or a["done"] <= first_ok),
                }
            )
            if first_ok is None:
                self._add("service recovered after the restart", False, "no 2xx after the restart")
