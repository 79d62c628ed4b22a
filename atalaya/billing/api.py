"""/api/v1/billing: each part of billing adds its endpoints to this router."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["billing"])

# Invoices (api_invoices.py): imported here so /api/v1/billing carries them.
from atalaya.billing.api_invoices import router as _invoices_router  # noqa: E402

router.add_router("", _invoices_router)

# Catalogue, agreements, the recurring run, time approval and hour blocks (api_agreements.py).
from atalaya.billing.api_agreements import router as _agreements_router  # noqa: E402

router.add_router("", _agreements_router)

# Payments, SEPA mandates and debits, bank statements (api_payments.py).
from atalaya.billing.api_payments import router as _payments_router  # noqa: E402

router.add_router("", _payments_router)

# Humane reminders: runs, pauses, disputes, why an invoice is or is not reminded.
from atalaya.billing.api_reminders import router as _reminders_router  # noqa: E402

router.add_router("", _reminders_router)

# Quotes for service packages, accepted or declined by the client (api_quotes.py).
from atalaya.billing.api_quotes import router as _quotes_router  # noqa: E402

router.add_router("", _quotes_router)
