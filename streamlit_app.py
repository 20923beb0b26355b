"""LumiCRS Studio app: the composition root (`streamlit run streamlit_app.py`).

The page list is built from the signed-in account's role: Export and Admin exist only for leads."""
from __future__ import annotations

import streamlit as st

from annotator import ui_admin, ui_dashboard, ui_export, ui_history, ui_rate, ui_review
from annotator.ui_common import current_identity, sidebar_account

PAGES = {"review": (ui_review.render, "Review"), "history": (ui_history.render, "My verdicts"),
         "rate": (ui_rate.render, "Rate"), "dashboard": (ui_dashboard.render, "Dashboard"),
         "export": (ui_export.render, "Export"), "admin": (ui_admin.render, "Admin")}
LEAD_ONLY = {"export", "admin"}


def pages_for(role: str | None) -> list[str]:
    return [path for path in PAGES if path not in LEAD_ONLY or role == "lead"]


def main(default: str = "review") -> None:
    st.set_page_config(page_title="LumiCRS Studio", layout="wide")
    identity = current_identity()
    sidebar_account(identity)
    allowed = pages_for(identity[2] if identity else None)
    pages = [st.Page(PAGES[path][0], title=PAGES[path][1], url_path=path, default=path == (default if default in
                                                                                           allowed else "review"))
             for path in allowed]
    st.navigation(pages).run()


if __name__ == "__main__":
    main()
