"""Make sure an operator account exists (``make run`` calls this)."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from catalog.permissions import operators_group


class Command(BaseCommand):
    help = (
        "Create the operator account if it does not exist. The password comes from "
        "RECSITE_OPERATOR_PASSWORD, or is generated and printed once."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--username", default=os.environ.get("RECSITE_OPERATOR_USERNAME", "operator")
        )

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is not None:
            self.stdout.write(f"Operator account '{username}' exists (password unchanged).")
            return
        password = os.environ.get("RECSITE_OPERATOR_PASSWORD") or secrets.token_urlsafe(12)
        user = User.objects.create_user(username=username, password=password, is_staff=True)
        user.groups.add(operators_group())
        self.stdout.write(
            self.style.SUCCESS(
                f"Created operator account '{username}' with password: {password}\n"
                "(set RECSITE_OPERATOR_PASSWORD before the first run to choose it; "
                "change it later with: python manage.py changepassword " + username + ")"
            )
        )
