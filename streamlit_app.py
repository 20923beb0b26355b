"""LumiCRS Studio app: the composition root (`streamlit run streamlit_app.py`).

The page list is built from the signed-in account's role: Export and Admin exist only for leads."""
from __future__ import annotations

import streamlit as st

from annotator import ui_admin, ui_dashboard, ui_export, ui_history, ui_rate, ui_review
from annotator.ui_common import current_identity, release_on_leave, sidebar_account

PAGES = {"review": (ui_review.render, "Review"), "history": (ui_history.render, "My verdicts"),
         "rate": (ui_rate.render, "Rate"), "dashboard": (ui_dashboard.render, "Dashboard"),
         "export": (ui_export.render, "Export"), "admin": (ui_admin.render, "Admin")}
LEAD_ONLY = {"export", "admin"}


LANDING = {"annotator": "review", "researcher": "rate", "lead": "dashboard"}  # where each role starts


def pages_for(role: str | None) -> list[str]:
    return [path for path in PAGES if path not in LEAD_ONLY or role == "lead"]


def main(default: str | None = None) -> None:
    """`default`: the page to open on; None: the signed-in role's own page (only annotators land on Review, so
    opening the app claims no review task for a lead or a researcher)."""
    st.set_page_config(page_title="LumiCRS Studio", layout="wide")
    identity = current_identity()
    sidebar_account(identity)
    role = identity[2] if identity else None
    allowed = pages_for(role)
    landing = default if default in allowed else LANDING.get(role or "", "review")
    pages = [st.Page(PAGES[path][0], title=PAGES[path][1], url_path=path, default=path == landing)
             for path in allowed]
    page = st.navigation(pages)
    release_on_leave(page.url_path or landing, identity[0] if identity else None)
    page.run()


if __name__ == "__main__":
    main()
