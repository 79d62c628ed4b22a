"""The catalogue pages: products and packages, edit, retire (MSP staff; writes need billing)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from atalaya.billing.forms_agreements import ProductForm
from atalaya.billing.models import Product, can_write_billing
from atalaya.billing.services import catalog
from atalaya.billing.views.common import billing_view, user_of
from atalaya.core.forms import add_service_errors


def get_product_or_404(product_id: Any) -> Product:
    found = Product.objects.filter(public_id=product_id).first()
    if found is None:
        raise Http404("Not found")
    return found


@billing_view("GET", "HEAD")
def product_list(request: HttpRequest) -> HttpResponse:
    """Every product, active first, packages with their components."""
    products = (
        Product.objects.select_related("work_type")
        .prefetch_related("components__product")
        .order_by("-is_active", "code")
    )
    return render(
        request,
        "billing/catalog/list.html",
        {"products": products, "can_write": can_write_billing(user_of(request))},
    )


def _components(form: ProductForm) -> list[tuple[Product, int]]:
    return [(p, 1) for p in form.cleaned_data["components"]]


@billing_view("GET", "HEAD", "POST", write=True)
def product_new(request: HttpRequest) -> HttpResponse:
    form = ProductForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            product = catalog.create_product(
                actor=user_of(request), components=_components(form), **form.service_fields()
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Product %(code)s added.") % {"code": product.code})
            return redirect("billing:product_list")
    return render(
        request,
        "billing/catalog/edit.html",
        {"form": form, "product": None},
        status=400 if request.method == "POST" else 200,
    )


@billing_view("GET", "HEAD", "POST", write=True)
def product_edit(request: HttpRequest, product_id: Any) -> HttpResponse:
    product = get_product_or_404(product_id)
    initial = {
        "code": product.code,
        "name_en": product.name_en,
        "name_es": product.name_es,
        "description_en": product.description_en,
        "description_es": product.description_es,
        "unit": product.unit,
        "unit_price": product.unit_price,
        "vat": f"{product.vat_category}:{product.vat_rate.normalize():f}",
        "work_type": product.work_type_id,
        "components": [c.product_id for c in product.components.all()],
    }
    form = ProductForm(request.POST or None, initial=initial, exclude=product)
    if request.method == "POST" and form.is_valid():
        try:
            catalog.update_product(
                actor=user_of(request),
                product=product,
                components=_components(form),
                **form.service_fields(),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Product %(code)s saved.") % {"code": product.code})
            return redirect("billing:product_list")
    return render(
        request,
        "billing/catalog/edit.html",
        {"form": form, "product": product, "can_write": can_write_billing(user_of(request))},
        status=400 if request.method == "POST" else 200,
    )


@billing_view("POST", write=True)
def product_retire(request: HttpRequest, product_id: Any) -> HttpResponse:
    product = get_product_or_404(product_id)
    try:
        catalog.retire_product(actor=user_of(request), product=product)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Product %(code)s retired.") % {"code": product.code})
    return redirect("billing:product_list")
