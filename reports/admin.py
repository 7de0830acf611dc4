from django.contrib import admin

# The index links the staff dashboard (reports.dashboard).
admin.site.index_template = "reports/admin_index.html"
