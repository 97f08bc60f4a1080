"""Operator forms: launching a run (one input per hyper-parameter) and the what-if panel."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings

from catalog.models import Item
from catalog.selectors import item_list
from recommender.pipeline import PROTOCOLS

LAUNCH_FIELDS = ("algorithm", "protocol", "seed", "validation_share")


def param_field_name(algorithm: str, param: str) -> str:
    return f"{algorithm}__{param}"


class TrainingRunForm(forms.Form):
    """Algorithm, protocol and seed, plus one input per hyper-parameter of every algorithm.

    The page shows only the chosen algorithm's inputs (static/js/recsite.js); only those are
    read. An empty input keeps the default; the config class validates what is given.
    """

    algorithm = forms.ChoiceField()
    protocol = forms.ChoiceField(choices=[(k, f"{k.upper()}: {v}") for k, v in PROTOCOLS.items()])
    seed = forms.IntegerField(
        initial=42,
        min_value=0,
        max_value=2**31 - 1,
        help_text="Feeds the data split and the model's random initialisation.",
    )
    validation_share = forms.FloatField(
        label="Validation share",
        required=False,
        initial=0.0,
        # The range (0 <= x < 0.5) is the service's rule; its error lands beside this input.
        widget=forms.NumberInput(attrs={"step": "any"}),
        help_text="P1 only: the share (0 to below 0.5) of each rater's training rows held out "
        "to score every epoch and stop early (patience), for models that train in epochs. "
        "0 = none.",
    )

    def __init__(self, *args: Any, catalogue: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.catalogue = catalogue
        self.fields["algorithm"].choices = [(a["name"], a["name"]) for a in catalogue]
        for algorithm in catalogue:
            for param in algorithm["params"]:
                name = param_field_name(algorithm["name"], param["name"])
                self.fields[name] = _param_field(param)

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Per algorithm: its description and bound inputs, for the template."""
        return [
            {
                "algorithm": algorithm["name"],
                "description": algorithm["description"],
                "fields": [
                    self[param_field_name(algorithm["name"], p["name"])]
                    for p in algorithm["params"]
                ],
            }
            for algorithm in self.catalogue
        ]

    def selected_algorithm(self) -> str:
        value = self.data.get("algorithm") if self.is_bound else self.initial.get("algorithm")
        return str(value or (self.catalogue[0]["name"] if self.catalogue else ""))

    def clean_validation_share(self) -> float:
        value = self.cleaned_data.get("validation_share")
        return 0.0 if value is None else value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        algorithm = cleaned.get("algorithm")
        params = next((a["params"] for a in self.catalogue if a["name"] == algorithm), [])
        config = {}
        for param in params:
            value = cleaned.get(param_field_name(algorithm, param["name"]))
            if value is not None and value != "":
                config[param["name"]] = value
        cleaned["config"] = config
        return cleaned

    def add_launch_error(self, field: str, message: str) -> None:
        """Put a service error (``TrainingConfigError.field``) beside the input it names."""
        algorithm = self.cleaned_data.get("algorithm", "")
        name = param_field_name(algorithm, field)
        if name in self.fields:
            self.add_error(name, message)
        elif field in LAUNCH_FIELDS:
            self.add_error(field, message)
        else:
            self.add_error(None, f"{field}: {message}")


def _param_field(param: dict[str, Any]) -> forms.Field:
    kind, default = param["type"], param["default"]
    help_text = param.get("help", "")
    options: dict[str, Any] = {
        "label": param["name"],
        "required": False,
        "initial": default,
        "help_text": f"{help_text} Default: {json.dumps(default)}.".strip(),
    }
    if kind == "int":
        return forms.IntegerField(**options)
    if kind == "float":
        return forms.FloatField(widget=forms.NumberInput(attrs={"step": "any"}), **options)
    if kind == "bool":
        return forms.BooleanField(**options)
    if kind == "str":
        return forms.CharField(**options)
    return JSONValueField(**options | {"initial": json.dumps(default)})


class JSONValueField(forms.CharField):
    """Any other hyper-parameter type, typed as JSON (``null``, ``[1, 2]``, ``{"a": 1}``)."""

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if text in ("", None):
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg}.") from exc


class WhatIfRatingForm(forms.Form):
    """Add one rating to the synthetic rater of the what-if panel."""

    item = forms.CharField(
        label="Item",
        help_text="Its id in your data, or (part of) its title.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    value = forms.FloatField(
        label="Rating",
        min_value=settings.RECSITE_RATING_MIN,
        max_value=settings.RECSITE_RATING_MAX,
        initial=settings.RECSITE_RATING_MAX,
        widget=forms.NumberInput(attrs={"step": "0.5"}),
    )

    def clean_item(self) -> Item:
        text = self.cleaned_data["item"].strip()
        exact = Item.objects.filter(external_id=text).first()
        if exact is not None:
            return exact
        matches = list(item_list(search=text)[:6])
        titled = [item for item in matches if item.title.lower() == text.lower()]
        if len(titled) == 1 or len(matches) == 1:
            return (titled or matches)[0]
        if not matches:
            raise forms.ValidationError(f"No item has the id or a title like “{text}”.")
        names = ", ".join(f"“{item.display_title}” ({item.external_id})" for item in matches[:5])
        raise forms.ValidationError(f"Several items match; type the id of one: {names}.")
