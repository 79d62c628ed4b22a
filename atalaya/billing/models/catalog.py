"""The service catalogue: products and packages with units, prices and VAT."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from atalaya.billing.models.common import Unit, VatCategory, price_field, quantity_field


class Product(models.Model):
    """Something the MSP sells: a service per user or device, a fixed fee or hourly work.

    A package ("Remote worker bundle") is a product with components; it is billed as
    one line at its own price, and its components are listed in the line's text. An
    hourly product may name the work type whose default rate it sets.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    code = models.SlugField(max_length=40, unique=True)
    name_en = models.CharField(max_length=200)
    name_es = models.CharField(max_length=200)
    description_en = models.TextField(blank=True, default="")
    description_es = models.TextField(blank=True, default="")
    unit = models.CharField(max_length=10, choices=Unit.choices)
    unit_price = price_field()
    vat_category = models.CharField(
        max_length=2, choices=VatCategory.choices, default=VatCategory.STANDARD
    )
    vat_rate = models.DecimalField(max_digits=5, decimal_places=2, default=21)
    is_package = models.BooleanField(default=False)
    work_type = models.ForeignKey(
        "tickets.WorkType", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="product_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(vat_rate__gte=0) & Q(vat_rate__lte=100), name="product_vat_rate_range"
            ),
            models.CheckConstraint(
                condition=Q(work_type__isnull=True) | Q(unit="hour"),
                name="product_work_type_only_hourly",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def name(self, language: str) -> str:
        return self.name_es if language == "es" else self.name_en


class PackageComponent(models.Model):
    """One product inside a package, with how many of it one unit of the package holds."""

    package = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="components")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="in_packages")
    quantity = quantity_field(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["package", "product"], name="component_once"),
            models.CheckConstraint(
                condition=~Q(package=models.F("product")), name="component_not_itself"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.package_id} ⊃ {self.product_id}"
