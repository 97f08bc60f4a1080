from __future__ import annotations

import json
from typing import Any

from django import forms

from recommender.algorithms import ALGORITHMS
from recommender.pipeline import PROTOCOLS


class TrainingRunForm(forms.Form):
    algorithm = forms.ChoiceField(choices=[(name, name) for name in sorted(ALGORITHMS)])
    config = forms.CharField(
        label="Hyper-parameters (JSON)",
        required=False,
        initial="{}",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text='Leave {} for the defaults, e.g. {"factors": 64}. Defaults are listed below.',
    )
    protocol = forms.ChoiceField(choices=[(k, f"{k.upper()}: {v}") for k, v in PROTOCOLS.items()])
    seed = forms.IntegerField(initial=42, min_value=0)

    def clean_config(self) -> dict[str, Any]:
        text = self.cleaned_data.get("config") or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError('Expected a JSON object such as {"factors": 64}.')
        return value
