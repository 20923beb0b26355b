"""LumiCRS Studio app: the composition root (`streamlit run streamlit_app.py`).

The page list is built from the signed-in account's role: each role sees the pages it works on (Export and Admin
only for leads). `/` is a hidden home page that sends a signed-in account to its role's page; every other page has
its own URL, so a deep link with the session token opens it; signing in on a page that is not one of the role's
own (or on `/`) lands on the role's first page."""
from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

import streamlit as st

from annotator.ui_common import TOKEN, current_identity, release_on_leave, session_token, sidebar_account

PAGES = {"review": ("ui_review", "Review"), "history": ("ui_history", "My verdicts"), "rate": ("ui_rate", "Rate"),
         "ratings": ("ui_ratings", "My ratings"), "dashboard": ("ui_dashboard", "Dashboard"),
         "export": ("ui_export", "Export"), "admin": ("ui_admin", "Admin")}
ROLE_PAGES = {"annotator": ("review", "history", "dashboard"), "researcher": ("rate", "ratings", "dashboard"),
              "lead": ("dashboard", "review", "history", "rate", "ratings", "export", "admin")}
LANDING = {role: pages[0] for role, pages in ROLE_PAGES.items()}  # where each role starts


def page_renderer(module: str) -> Callable[[], None]:
    """A page's module is imported when the page is first shown (a fresh process imports only what it draws)."""
    def render() -> None:
        import_module(f"annotator.{module}").render()

    render.__name__ = module
    return render


def pages_for(role: str | None) -> tuple[str, ...]:
    """A role's own pages, in its menu's order; signed out, every page (each asks to sign in)."""
    return ROLE_PAGES.get(role or "", tuple(PAGES))


def order_of(path: str, allowed: tuple[str, ...]) -> int:
    return allowed.index(path) if path in allowed else len(allowed)


def home() -> None:
    st.title("LumiCRS Studio")
    st.info("Sign in with your account in the sidebar: you land on your role's page (annotators on Review, "
            "researchers on Rate, leads on the Dashboard).")


def main(default: str | None = None) -> None:
    """`default`: the page `/` opens for a signed-in account that may see it (tests open a page this way); None:
    the role's own first page."""
    st.set_page_config(page_title="LumiCRS Studio", layout="wide")
    st.html("<style>.stMainBlockContainer {padding-top: 3rem;}</style>")  # room for the action bar at 1400x900
    identity = current_identity()
    sidebar_account(identity)
    role = identity[2] if identity else None
    allowed = pages_for(role)
    # every page is registered (a URL never meets "Page not found"); another role's pages are hidden and send
    # whoever opens them to their own page
    pages = {path: st.Page(page_renderer(module), title=title, url_path=path,
                           visibility="visible" if path in allowed else "hidden")
             for path, (module, title) in sorted(PAGES.items(), key=lambda item: order_of(item[0], allowed))}
    landing_page = st.Page(home, title="Home", url_path="home", default=True, visibility="hidden")
    page = st.navigation([landing_page, *pages.values()])
    landing = pages[default if default in allowed else LANDING[role]] if role in LANDING else None
    if landing is not None and (page is landing_page or page.url_path not in allowed):
        st.switch_page(landing, query_params={TOKEN: session_token() or ""})  # the sign-in token stays in the URL
    release_on_leave(page.url_path or "home", identity[0] if identity else None)
    page.run()


if __name__ == "__main__":
    main()
