"""The service catalogue: products and packages, their units, prices and VAT.

Every write is audited. A product is never deleted: it is retired, and a retired
product cannot be put on an agreement. An hourly product tied to a work type sets that
work type's default hourly rate (an agreement's own rate overrides it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaya.billing.models import AgreementLine, PackageComponent, Product, Unit, VatCategory
from atalaya.billing.models.common import IVA_RATES, require_billing_writer
from atalaya.core.models import User
from atalaya.core.services import record_audit
from atalaya.tickets.models import WorkType

# Beyond these a price or quantity is a typing mistake, not a sale.
MAX_PRICE = Decimal("1000000")
MAX_QUANTITY = Decimal("100000")

PRODUCT_FIELDS = (
    "code",
    "name_en",
    "name_es",
    "description_en",
    "description_es",
    "unit",
    "unit_price",
    "vat_category",
    "vat_rate",
    "work_type",
)


def clean_decimal(field: str, value: Any, *, limit: Decimal, places: int) -> Decimal:
    """A non-negative Decimal within ``limit`` with at most ``places`` decimals, or an error
    naming ``field``. Floats are refused: money never passes through binary fractions."""
    if isinstance(value, float | bool):
        raise ValidationError({field: [_("Give an exact decimal number, not a float.")]})
    try:
        number = Decimal(str(value).strip().replace(",", ".")) if value != "" else None
    except (InvalidOperation, ValueError):
        number = None
    if number is None or not number.is_finite():
        raise ValidationError({field: [_("Enter a number.")]})
    if number < 0:
        raise ValidationError({field: [_("It cannot be negative.")]})
    if number > limit:
        raise ValidationError(
            {field: [_("%(value)s is more than %(limit)s.") % {"value": number, "limit": limit}]}
        )
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise ValidationError({field: [_("Use at most %(places)d decimals.") % {"places": places}]})
    return number


def clean_vat(category: str, rate: Any) -> tuple[str, Decimal]:
    """Spanish IVA: the standard category carries 21, 10 or 4 %; exempt and reverse
    charge carry 0 (their buckets hold no tax whatever the rate says, so say 0)."""
    if category not in VatCategory.values:
        raise ValidationError({"vat_category": [_("Unknown VAT category.")]})
    number = clean_decimal("vat_rate", rate, limit=Decimal(100), places=2)
    if category == VatCategory.STANDARD and number not in IVA_RATES:
        raise ValidationError(
            {"vat_rate": [_("IVA is 21, 10 or 4 %; use the exempt category for 0 %.")]}
        )
    if category != VatCategory.STANDARD and number != 0:
        raise ValidationError({"vat_rate": [_("An exempt or reverse-charge line has 0 % VAT.")]})
    return category, number.quantize(Decimal("0.01"))


def _clean(values: dict[str, Any], *, instance: Product | None) -> dict[str, Any]:
    code = str(values.get("code", "")).strip().lower()
    if not code or len(code) > 40 or not all(c.isalnum() or c in "-_" for c in code):
        raise ValidationError({"code": [_("Use up to 40 letters, digits, - or _.")]})
    clash = Product.objects.filter(code=code)
    if instance is not None:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        raise ValidationError({"code": [_("Another product already has this code.")]})
    values["code"] = code
    for name in ("name_en", "name_es"):
        text = str(values.get(name, "")).strip()
        if not text or len(text) > 200:
            raise ValidationError({name: [_("Give a name of up to 200 characters.")]})
        values[name] = text
    for name in ("description_en", "description_es"):
        values[name] = str(values.get(name, "") or "").strip()
    if values.get("unit") not in Unit.values:
        raise ValidationError({"unit": [_("Choose per user, per device, fixed or per hour.")]})
    values["unit_price"] = clean_decimal(
        "unit_price", values.get("unit_price", ""), limit=MAX_PRICE, places=4
    )
    values["vat_category"], values["vat_rate"] = clean_vat(
        values.get("vat_category", VatCategory.STANDARD), values.get("vat_rate", "21")
    )
    work_type = values.get("work_type")
    if work_type is not None:
        if not isinstance(work_type, WorkType):
            raise ValidationError({"work_type": [_("Unknown work type.")]})
        if values["unit"] != Unit.PER_HOUR:
            raise ValidationError(
                {"work_type": [_("Only an hourly product sets a work type's rate.")]}
            )
        # One default rate per work type: two active products would make it ambiguous.
        other = Product.objects.filter(work_type=work_type, is_active=True)
        if instance is not None:
            other = other.exclude(pk=instance.pk)
        if other.exists():
            raise ValidationError(
                {"work_type": [_("Another active product already sets this work type's rate.")]}
            )
    return values


def _clean_components(
    package: Product | None, components: Iterable[tuple[Product, Any]]
) -> list[tuple[Product, Decimal]]:
    cleaned: list[tuple[Product, Decimal]] = []
    seen: set[int] = set()
    given = list(components)
    # Read again: a component may have been retired since the form was shown.
    fresh = Product.objects.in_bulk([p.pk for p, _q in given])
    for stale, quantity in given:
        product = fresh.get(stale.pk, stale)
        if package is not None and product.pk == package.pk:
            raise ValidationError({"components": [_("A package cannot contain itself.")]})
        if product.pk in seen:
            raise ValidationError(
                {"components": [_("%(code)s is listed twice.") % {"code": product.code}]}
            )
        if product.is_package:
            raise ValidationError(
                {"components": [_("%(code)s is a package itself.") % {"code": product.code}]}
            )
        if not product.is_active:
            raise ValidationError(
                {"components": [_("%(code)s is retired.") % {"code": product.code}]}
            )
        seen.add(product.pk)
        amount = clean_decimal("components", quantity, limit=MAX_QUANTITY, places=3)
        if amount == 0:
            raise ValidationError({"components": [_("A component's quantity must be above 0.")]})
        cleaned.append((product, amount))
    return cleaned


def _snapshot(product: Product) -> dict[str, Any]:
    data: dict[str, Any] = {name: getattr(product, name) for name in PRODUCT_FIELDS}
    data["work_type"] = product.work_type_id
    data["unit_price"] = str(product.unit_price)
    data["vat_rate"] = str(product.vat_rate)
    data["is_active"] = product.is_active
    data["components"] = [
        [c.product.code, str(c.quantity)] for c in product.components.select_related("product")
    ]
    return data


@transaction.atomic
def create_product(
    *,
    actor: User | None,
    components: Sequence[tuple[Product, Any]] = (),
    **fields: Any,
) -> Product:
    """Add a product, or a package when ``components`` ((product, quantity) pairs) are
    given; a package is billed at its own price as one line listing its components."""
    require_billing_writer(actor)
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise TypeError(f"unknown product fields: {sorted(unknown)}")
    values = _clean(dict(fields), instance=None)
    parts = _clean_components(None, components)
    product = Product.objects.create(is_package=bool(parts), **values)
    PackageComponent.objects.bulk_create(
        PackageComponent(package=product, product=p, quantity=q) for p, q in parts
    )
    record_audit(actor, product, "product.created", after=_snapshot(product))
    return product


@transaction.atomic
def update_product(
    *,
    actor: User | None,
    product: Product,
    components: Sequence[tuple[Product, Any]] | None = None,
    **fields: Any,
) -> Product:
    """Change a product's fields (and a package's components when given). Prices of
    invoices already drafted or issued do not move: they keep their own copy."""
    require_billing_writer(actor)
    product = Product.objects.select_for_update().get(pk=product.pk)
    if not product.is_active:
        raise ValidationError(_("This product is retired; it can no longer be changed."))
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise TypeError(f"unknown product fields: {sorted(unknown)}")
    before = _snapshot(product)
    values = {name: getattr(product, name) for name in PRODUCT_FIELDS}
    values.update(fields)
    values = _clean(values, instance=product)
    for name, value in values.items():
        setattr(product, name, value)
    if components is not None:
        parts = _clean_components(product, components)
        if parts and product.in_packages.exists():
            raise ValidationError(
                {"components": [_("This product is part of a package; it cannot be one.")]}
            )
        product.components.all().delete()
        PackageComponent.objects.bulk_create(
            PackageComponent(package=product, product=p, quantity=q) for p, q in parts
        )
        product.is_package = bool(parts)
    product.save()
    record_audit(actor, product, "product.updated", before=before, after=_snapshot(product))
    return product


@transaction.atomic
def retire_product(*, actor: User | None, product: Product) -> Product:
    """Stop selling a product. Refused while an agreement still bills it, so retiring
    never silently drops a line from a client's next invoice: end those lines first."""
    require_billing_writer(actor)
    product = Product.objects.select_for_update().get(pk=product.pk)
    if not product.is_active:
        return product
    today = timezone.localdate()
    in_use = (
        AgreementLine.objects.filter(product=product, agreement__is_active=True)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .filter(Q(agreement__ends_on__isnull=True) | Q(agreement__ends_on__gte=today))
        .values_list("agreement__name", flat=True)
        .distinct()
    )
    names = sorted(set(in_use))
    if names:
        raise ValidationError(
            _("%(code)s is still billed by: %(names)s. End those lines first.")
            % {"code": product.code, "names": ", ".join(names[:5])}
        )
    packages = list(
        product.in_packages.filter(package__is_active=True).values_list("package__code", flat=True)
    )
    if packages:
        raise ValidationError(
            _("%(code)s is part of the packages %(names)s; take it out first.")
            % {"code": product.code, "names": ", ".join(packages)}
        )
    before = _snapshot(product)
    product.is_active = False
    product.save(update_fields=["is_active"])
    record_audit(actor, product, "product.retired", before=before, after=_snapshot(product))
    return product


def line_text(
    product: Product,
    language: str,
    components: Sequence[tuple[str, str, Decimal]] | None = None,
) -> str:
    """A product's invoice text in ``language``; a package lists its components:
    "Remote worker bundle: VPN, MFA, Antivirus, Backup (2 ×)".

    ``components`` are (name_en, name_es, quantity) triples, given by a caller that has
    already loaded them in bulk; otherwise they are read here.
    """
    name = product.name(language)
    if not product.is_package:
        return name
    if components is None:
        components = [
            (c.product.name_en, c.product.name_es, c.quantity)
            for c in product.components.select_related("product").order_by("id")
        ]
    parts = []
    for name_en, name_es, quantity in components:
        part = name_es if language == "es" else name_en
        if quantity != 1:
            part = f"{part} ({quantity.normalize():f} ×)"
        parts.append(part)
    return f"{name}: {', '.join(parts)}" if parts else name


def hourly_product_for(work_type: WorkType | None) -> Product | None:
    """The active hourly product that sets the work type's default rate, if any."""
    if work_type is None:
        return None
    return Product.objects.filter(work_type=work_type, is_active=True, unit=Unit.PER_HOUR).first()
