"""Forms of the knowledge base pages: they check and convert input; kb.services writes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import Client
from atalaya.kb.models import (
    MAX_BODY_CHARS,
    MAX_TITLE_CHARS,
    Article,
    ArticleStatus,
    Category,
    Visibility,
)


class ArticleForm(forms.Form):
    """Title and Markdown text in each language (one language is enough), shelf, tags,
    status and who may read it. The length limits are the services' own, checked here
    first so a pasted megabyte gets its message next to the field."""

    title_en = forms.CharField(label=_("Title (English)"), required=False)
    body_en = forms.CharField(
        label=_("Text (English, Markdown)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 14}),
    )
    title_es = forms.CharField(label=_("Title (Spanish)"), required=False)
    body_es = forms.CharField(
        label=_("Text (Spanish, Markdown)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 14}),
    )
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.all(), to_field_name="slug", required=False
    )
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separated by commas."), max_length=1000
    )
    status = forms.ChoiceField(label=_("Status"), choices=ArticleStatus.choices)
    visibility = forms.ChoiceField(label=_("Who may read it"), choices=Visibility.choices)
    clients: forms.ModelMultipleChoiceField[Client] = forms.ModelMultipleChoiceField(
        label=_("Clients"),
        queryset=Client.objects.none(),
        to_field_name="public_id",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("For an article shared with chosen clients."),
    )

    def __init__(self, *args: Any, clients: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["clients"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = clients.filter(is_active=True).order_by("name")

    def _checked_length(self, name: str, limit: int) -> str:
        value = str(self.cleaned_data.get(name) or "")
        if len(value) > limit:
            raise forms.ValidationError(
                _("The text is too long: at most %(limit)d characters (this one has %(n)d)."),
                params={"limit": limit, "n": len(value)},
                code="max_length",
            )
        return value

    def clean_title_en(self) -> str:
        return self._checked_length("title_en", MAX_TITLE_CHARS)

    def clean_title_es(self) -> str:
        return self._checked_length("title_es", MAX_TITLE_CHARS)

    def clean_body_en(self) -> str:
        return self._checked_length("body_en", MAX_BODY_CHARS)

    def clean_body_es(self) -> str:
        return self._checked_length("body_es", MAX_BODY_CHARS)

    def clean_tags(self) -> list[str]:
        raw = str(self.cleaned_data.get("tags") or "")
        return [part.strip() for part in raw.split(",") if part.strip()]

    def service_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["clients"] = list(data.get("clients") or [])
        return data

    @classmethod
    def initial_for(cls, article: Article) -> dict[str, Any]:
        return {
            "title_en": article.title_en,
            "title_es": article.title_es,
            "body_en": article.body_en,
            "body_es": article.body_es,
            "category": article.category.slug if article.category else None,
            "tags": ", ".join(t.name for t in article.tags.all()),
            "status": article.status,
            "visibility": article.visibility,
            "clients": list(article.clients.all()),
        }


class CategoryForm(forms.Form):
    """A new shelf: a short slug for addresses and filters, and its name in both languages."""

    slug = forms.SlugField(label=_("Short name (for addresses)"), max_length=60)
    name_en = forms.CharField(label=_("Name (English)"), max_length=120)
    name_es = forms.CharField(label=_("Name (Spanish)"), max_length=120)

    def clean_slug(self) -> str:
        slug = str(self.cleaned_data["slug"]).lower()
        if Category.objects.filter(slug=slug).exists():
            raise forms.ValidationError(_("A category with this short name exists already."))
        return slug
