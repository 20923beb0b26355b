"""LumiCRS Studio app: the composition root (`streamlit run streamlit_app.py`).

The page list is built from the signed-in account's role: Export and Admin exist only for leads."""
from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

import streamlit as st

from annotator.ui_common import current_identity, release_on_leave, sidebar_account

PAGES = {"review": ("ui_review", "Review"), "history": ("ui_history", "My verdicts"), "rate": ("ui_rate", "Rate"),
         "dashboard": ("ui_dashboard", "Dashboard"), "export": ("ui_export", "Export"), "admin": ("ui_admin", "Admin")}
LEAD_ONLY = {"export", "admin"}


def page_renderer(module: str) -> Callable[[], None]:
    """A page's module is imported when the page is first shown (a fresh process imports only what it draws)."""
    def render() -> None:
        import_module(f"annotator.{module}").render()

    render.__name__ = module
    return render


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
    pages = [st.Page(page_renderer(PAGES[path][0]), title=PAGES[path][1], url_path=path, default=path == landing)
             for path in allowed]
    page = st.navigation(pages)
    release_on_leave(page.url_path or landing, identity[0] if identity else None)
    page.run()


if __name__ == "__main__":
    main()
