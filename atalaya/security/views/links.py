"""Link pages: the phishing reports users sent in, and a form to check links by hand.

MSP staff only (anyone else 404). Checking never opens a link: it runs the same
offline judgement as the mail pipeline and the API.
"""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext_lazy

from atalaya.security.links import describe_reason, extract_links, judge_links
from atalaya.security.models import PhishingReport
from atalaya.tickets.views.tickets import staff_view

PER_PAGE = 100


class CheckForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Links or a mail's text"),
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=200_000,
    )


@staff_view("GET", "HEAD")
def report_list(request: HttpRequest) -> HttpResponse:
    """The latest phishing reports with their verdict, client and ticket."""
    reports = list(
        PhishingReport.objects.visible_to(request.user)
        .select_related("client", "contact", "ticket")
        .order_by("-created_at")[:PER_PAGE]
    )
    return render(request, "security/links/report_list.html", {"reports": reports})


@staff_view("GET", "HEAD", "POST")
def link_check(request: HttpRequest) -> HttpResponse:
    """Paste links or a whole mail: each link's verdict, score and reasons."""
    form = CheckForm(request.POST or None)
    results = []
    if request.method == "POST" and form.is_valid():
        links = extract_links(text=form.cleaned_data["text"], limit=200)
        for link, judged in zip(links, judge_links(links), strict=False):
            reasons = [describe_reason(code) for code in judged.reasons]
            results.append({"link": link, "judged": judged, "reasons": reasons})
    status = 400 if form.errors else 200
    return render(
        request, "security/links/check.html", {"form": form, "results": results}, status=status
    )


urlpatterns = [
    path("phishing-reports/", report_list, name="report_list"),
    path("links/check/", link_check, name="link_check"),
]
