// django-jalali-date's picker (@majidh1/jalalidatepicker) on the date boxes of
// Persian pages (portal/forms.py DayInput), writing days as the pages show
// them: 1405/09/16, Latin digits. The library's own start (window.onload)
// would write 1405-09-16 and a time: ours replaces it.
window.onload = null;
document.addEventListener("DOMContentLoaded", function () {
  jalaliDatepicker.startWatch({
    separatorChars: { date: "/" },
    time: false,
    persianDigits: false,
    hideAfterChange: true,
    zIndex: 1000,
  });
});
