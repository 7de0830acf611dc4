"""The Iranian banks a seller's transfer can come from: fixed data, not a
table, since the list changes by decree once in years (a new code is a release).
Each bank's code is what a credit request stores and `GET /api/v1/banks/` lists."""

from typing import NamedTuple

from django.utils.translation import get_language


class Bank(NamedTuple):
    code: str
    name: str
    name_fa: str


BANKS = [
    Bank("melli", "Bank Melli Iran", "بانک ملی ایران"),
    Bank("mellat", "Bank Mellat", "بانک ملت"),
    Bank("saderat", "Bank Saderat Iran", "بانک صادرات ایران"),
    Bank("tejarat", "Tejarat Bank", "بانک تجارت"),
    Bank("sepah", "Bank Sepah", "بانک سپه"),
    Bank("keshavarzi", "Bank Keshavarzi", "بانک کشاورزی"),
    Bank("maskan", "Bank Maskan", "بانک مسکن"),
    Bank("refah", "Refah Kargaran Bank", "بانک رفاه کارگران"),
    Bank("pasargad", "Bank Pasargad", "بانک پاسارگاد"),
    Bank("parsian", "Parsian Bank", "بانک پارسیان"),
    Bank("saman", "Saman Bank", "بانک سامان"),
    Bank("eghtesad-novin", "EN Bank (Eghtesad Novin)", "بانک اقتصاد نوین"),
    Bank("sina", "Sina Bank", "بانک سینا"),
    Bank("shahr", "Shahr Bank", "بانک شهر"),
    Bank("dey", "Dey Bank", "بانک دی"),
    Bank("ayandeh", "Ayandeh Bank", "بانک آینده"),
    Bank("karafarin", "Karafarin Bank", "بانک کارآفرین"),
    Bank("sarmayeh", "Sarmayeh Bank", "بانک سرمایه"),
    Bank("post-bank", "Post Bank of Iran", "پست بانک ایران"),
    Bank("tose-taavon", "Tose'e Ta'avon Bank", "بانک توسعه تعاون"),
    Bank("tose-saderat", "Export Development Bank of Iran", "بانک توسعه صادرات ایران"),
    Bank("sanat-madan", "Bank of Industry and Mine", "بانک صنعت و معدن"),
    Bank("gardeshgari", "Tourism Bank", "بانک گردشگری"),
    Bank("iran-zamin", "Iran Zamin Bank", "بانک ایران زمین"),
    Bank("khavarmianeh", "Middle East Bank", "بانک خاورمیانه"),
    Bank("resalat", "Resalat Qard al-Hasan Bank", "بانک قرض‌الحسنه رسالت"),
    Bank("mehr-iran", "Mehr Iran Qard al-Hasan Bank", "بانک قرض‌الحسنه مهر ایران"),
]

BANK_CHOICES = [(bank.code, bank.name) for bank in BANKS]
BANKS_BY_CODE = {bank.code: bank for bank in BANKS}


def bank_name(code: str) -> str:
    """The bank's name in the page's language (Persian pages name no bank in English)."""
    bank = BANKS_BY_CODE.get(code)
    if bank is None:
        return ""
    return bank.name_fa if (get_language() or "").startswith("fa") else bank.name
