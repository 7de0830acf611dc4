"""How staff pages show money: rials with thousands separators and the unit."""


def rials(amount: int | None, *, signed: bool = False) -> str:
    if amount is None:
        return "-"
    return f"{amount:+,} IRR" if signed else f"{amount:,} IRR"
