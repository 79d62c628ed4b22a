"""The billing pages (MSP staff); each part of billing adds its routes from its views module."""

from __future__ import annotations

from django.urls import path

from atalaya.billing.views import agreements as agreement_views
from atalaya.billing.views import bank as bank_views
from atalaya.billing.views import catalog as catalog_views
from atalaya.billing.views import invoices as invoice_views
from atalaya.billing.views import payments as payment_views
from atalaya.billing.views import profile as profile_views
from atalaya.billing.views import quotes as quote_views
from atalaya.billing.views import reminders as reminder_views
from atalaya.billing.views import sepa as sepa_views
from atalaya.billing.views import settings as settings_views
from atalaya.billing.views import time as time_views

app_name = "billing"
urlpatterns: list = [
    # Invoices (the billing area's front page is the invoice list).
    path("invoices/", invoice_views.invoice_list, name="invoice_list"),
    path("invoices/new/", invoice_views.invoice_new, name="invoice_new"),
    path("invoices/<uuid:invoice_id>/", invoice_views.invoice_detail, name="invoice_detail"),
    path("invoices/<uuid:invoice_id>/edit/", invoice_views.draft_edit, name="draft_edit"),
    path("invoices/<uuid:invoice_id>/lines/", invoice_views.line_add, name="line_add"),
    path(
        "invoices/<uuid:invoice_id>/lines/<int:line_id>/remove/",
        invoice_views.line_remove,
        name="line_remove",
    ),
    path("invoices/<uuid:invoice_id>/issue/", invoice_views.invoice_issue, name="invoice_issue"),
    path(
        "invoices/<uuid:invoice_id>/discard/", invoice_views.invoice_discard, name="invoice_discard"
    ),
    path(
        "invoices/<uuid:invoice_id>/credit-note/",
        invoice_views.credit_note_new,
        name="credit_note_new",
    ),
    path("invoices/<uuid:invoice_id>/pdf/", invoice_views.invoice_pdf, name="invoice_pdf"),
    path("invoices/<uuid:invoice_id>/send/", invoice_views.invoice_send, name="invoice_send"),
    path("clients/<uuid:client_id>/profile/", profile_views.profile_edit, name="profile_edit"),
    path("settings/", settings_views.settings_edit, name="settings"),
    path("series/", settings_views.series_list, name="series_list"),
    # Payments, credit, SEPA direct debits and bank statements.
    path("payments/", payment_views.payment_list, name="payment_list"),
    path("payments/<uuid:payment_id>/", payment_views.payment_detail, name="payment_detail"),
    path(
        "payments/<uuid:payment_id>/reverse/", payment_views.payment_reverse, name="payment_reverse"
    ),
    path("invoices/<uuid:invoice_id>/pay/", payment_views.invoice_pay, name="invoice_pay"),
    path(
        "invoices/<uuid:invoice_id>/apply-credit/",
        payment_views.invoice_apply_credit,
        name="invoice_apply_credit",
    ),
    path("clients/<uuid:client_id>/credit/", payment_views.client_credit, name="client_credit"),
    path(
        "clients/<uuid:client_id>/payments/new/",
        payment_views.client_payment_new,
        name="client_payment_new",
    ),
    path("clients/<uuid:client_id>/mandates/", sepa_views.mandate_list, name="mandate_list"),
    path("mandates/<uuid:mandate_id>/revoke/", sepa_views.mandate_revoke, name="mandate_revoke"),
    path("collections/", sepa_views.collection_list, name="collection_list"),
    path(
        "collections/<uuid:collection_id>/",
        sepa_views.collection_detail,
        name="collection_detail",
    ),
    path(
        "collections/<uuid:collection_id>/submit/",
        sepa_views.collection_submit,
        name="collection_submit",
    ),
    path(
        "collections/<uuid:collection_id>/settle/",
        sepa_views.collection_settle,
        name="collection_settle",
    ),
    path(
        "collections/<uuid:collection_id>/final/",
        sepa_views.collection_final,
        name="collection_final",
    ),
    path(
        "collections/<uuid:collection_id>/return/",
        sepa_views.collection_return,
        name="collection_return",
    ),
    path(
        "collections/<uuid:collection_id>/cancel/",
        sepa_views.collection_cancel,
        name="collection_cancel",
    ),
    path("batches/", sepa_views.batch_list, name="batch_list"),
    path("batches/new/", sepa_views.batch_new, name="batch_new"),
    path("batches/<uuid:batch_id>/", sepa_views.batch_detail, name="batch_detail"),
    path("batches/<uuid:batch_id>/pain008.xml", sepa_views.batch_download, name="batch_download"),
    path("batches/<uuid:batch_id>/submit/", sepa_views.batch_submit, name="batch_submit"),
    path("bank/", bank_views.statement_list, name="statement_list"),
    path(
        "bank/statements/<uuid:statement_id>/",
        bank_views.statement_detail,
        name="statement_detail",
    ),
    path("bank/unmatched/", bank_views.unmatched_list, name="unmatched_list"),
    path("bank/entries/<int:bank_entry_id>/match/", bank_views.entry_match, name="entry_match"),
    path("bank/entries/<int:bank_entry_id>/ignore/", bank_views.entry_ignore, name="entry_ignore"),
    # Catalogue, agreements, the recurring run, time approval and hour blocks.
    path("catalog/", catalog_views.product_list, name="product_list"),
    path("catalog/new/", catalog_views.product_new, name="product_new"),
    path("catalog/<uuid:product_id>/", catalog_views.product_edit, name="product_edit"),
    path("catalog/<uuid:product_id>/retire/", catalog_views.product_retire, name="product_retire"),
    path("agreements/", agreement_views.agreement_list, name="agreement_list"),
    path("agreements/new/", agreement_views.agreement_new, name="agreement_new"),
    path(
        "agreements/<uuid:agreement_id>/",
        agreement_views.agreement_detail,
        name="agreement_detail",
    ),
    path(
        "agreements/<uuid:agreement_id>/edit/",
        agreement_views.agreement_edit,
        name="agreement_edit",
    ),
    path(
        "agreements/<uuid:agreement_id>/lines/",
        agreement_views.agreement_line_add,
        name="agreement_line_add",
    ),
    path(
        "agreements/<uuid:agreement_id>/lines/<int:agreement_line_id>/remove/",
        agreement_views.agreement_line_remove,
        name="agreement_line_remove",
    ),
    path(
        "agreements/<uuid:agreement_id>/rates/",
        agreement_views.agreement_rate_set,
        name="agreement_rate_set",
    ),
    path("recurring/", agreement_views.recurring_run, name="recurring_run"),
    path("time/", time_views.time_queue, name="time_queue"),
    path("time/<int:entry_id>/decide/", time_views.time_decide, name="time_decide"),
    path("hour-blocks/", time_views.hour_block_list, name="hour_block_list"),
    path("hour-blocks/new/", time_views.hour_block_new, name="hour_block_new"),
    # Humane reminders: runs a person approves, pauses, disputes (views/reminders.py).
    path("reminders/", reminder_views.run_list, name="reminder_run_list"),
    path("reminders/new/", reminder_views.run_new, name="reminder_run_new"),
    path("reminders/pauses/", reminder_views.pause_list, name="reminder_pause_list"),
    path(
        "reminders/pauses/<int:pause_id>/lift/",
        reminder_views.pause_lift,
        name="reminder_pause_lift",
    ),
    path("reminders/<uuid:run_id>/", reminder_views.run_detail, name="reminder_run_detail"),
    path(
        "reminders/<uuid:run_id>/approve/",
        reminder_views.run_approve_all,
        name="reminder_run_approve_all",
    ),
    path("reminders/<uuid:run_id>/send/", reminder_views.run_send, name="reminder_run_send"),
    path(
        "reminders/<uuid:run_id>/discard/", reminder_views.run_discard, name="reminder_run_discard"
    ),
    path(
        "reminders/<uuid:run_id>/items/<int:item_id>/approve/",
        reminder_views.item_approve,
        name="reminder_item_approve",
    ),
    path(
        "reminders/<uuid:run_id>/items/<int:item_id>/skip/",
        reminder_views.item_skip,
        name="reminder_item_skip",
    ),
    path(
        "invoices/<uuid:invoice_id>/dispute/",
        reminder_views.invoice_dispute,
        name="invoice_dispute",
    ),
    path(
        "invoices/<uuid:invoice_id>/undispute/",
        reminder_views.invoice_undispute,
        name="invoice_undispute",
    ),
    # Quotes for service packages, decided by the client in the portal (views/quotes.py).
    path("quotes/", quote_views.quote_list, name="quote_list"),
    path("quotes/new/", quote_views.quote_new, name="quote_new"),
    path("quotes/<uuid:quote_id>/", quote_views.quote_detail, name="quote_detail"),
    path("quotes/<uuid:quote_id>/edit/", quote_views.quote_edit, name="quote_edit"),
    path("quotes/<uuid:quote_id>/lines/", quote_views.quote_line_add, name="quote_line_add"),
    path(
        "quotes/<uuid:quote_id>/lines/<int:quote_line_id>/remove/",
        quote_views.quote_line_remove,
        name="quote_line_remove",
    ),
    path("quotes/<uuid:quote_id>/send/", quote_views.quote_send, name="quote_send"),
    path("quotes/<uuid:quote_id>/withdraw/", quote_views.quote_withdraw, name="quote_withdraw"),
    path("quotes/<uuid:quote_id>/pdf/", quote_views.quote_pdf, name="quote_pdf"),
]
