"""LumiCRS Studio app: the composition root (`streamlit run streamlit_app.py`)."""
from __future__ import annotations

import streamlit as st

from annotator import ui_dashboard, ui_export, ui_rate, ui_review

PAGES = {"review": (ui_review.render, "Review"), "rate": (ui_rate.render, "Rate"),
         "dashboard": (ui_dashboard.render, "Dashboard"), "export": (ui_export.render, "Export")}


def main(default: str = "review") -> None:
    st.set_page_config(page_title="LumiCRS Studio", layout="wide")
    pages = [st.Page(render, title=title, url_path=path, default=path == default)
             for path, (render, title) in PAGES.items()]
    st.navigation(pages).run()


if __name__ == "__main__":
    main()
