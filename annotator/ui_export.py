"""Export page (leads only): versioned JSONL + parquet of approved augmented dialogues.

Only datasets with approved dialogues are offered; the name follows the dataset; a preview (counts by tier and by
how each dialogue was decided, a few rows) and an explicit confirmation come before anything is written. The output
folder is the LUMICRS_EXPORT_DIR setting, not a form field."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from sqlalchemy import select

from annotator.errors import PermissionDenied
from annotator.export import export_approved, export_lock, export_preview, placeholder_warning
from annotator.ui_common import flash, require_identity, session_token, transaction
from db.errors import Conflict
from db.models import Dataset, DatasetExport
from db.queries.accounts import acting_reviewer
from db.queries.candidates import status_counts
from db.settings import get_settings
from lm.placeholder_model import PLACEHOLDER_NOTICE

FLASH = "export_flash"


def _export(reviewer_id: int, dataset: str) -> None:
    name = st.session_state.get(f"export_name_{dataset}", "").strip()
    if not st.session_state.get(f"export_confirm_{dataset}"):
        st.session_state[FLASH] = ("error", "Tick the confirmation first.")
        return
    st.session_state[FLASH] = outcome = export_now(session_token(), reviewer_id, dataset, name)
    if outcome[0] == "success":
        st.session_state[f"export_confirm_{dataset}"] = False


def export_now(token: str | None, reviewer_id: int, dataset: str, name: str) -> tuple[str, str]:
    """One export from the page: ("success" | "error", message). The account is re-read from the browser session
    inside the export's transaction (a lead disabled or demoted after the page was drawn cannot export). Leads
    exporting one name at once take turns (the lock `lumicrs export` holds too), so each gets a version of its own."""
    try:
        with export_lock(name), transaction(write=True) as session:
            export = export_approved(session, dataset, name, acting_reviewer(session, token, reviewer_id, role="lead"))
            message = f"Exported {export.n_rows} dialogues as {export.name} v{export.version} (sha256 {export.sha256[:12]}…)"
            same = export.params.get("identical_to_version")
            if same:
                message += f"; identical to v{same} (nothing changed since)"
    except (PermissionDenied, ValueError, OSError, Conflict) as exc:
        return "error", str(exc)
    return "success", message


def render() -> None:
    st.title("Export approved data")
    identity = require_identity()
    if identity is None:
        flash(FLASH)  # an action refused because the account was disabled says why
        return
    if identity[2] != "lead":
        st.warning(f"Only leads can export datasets; you are signed in as a {identity[2]}.")
        return
    with transaction() as session:
        datasets = list(session.scalars(select(Dataset.name).order_by(Dataset.name)))
        exports = [{"name": e.name, "version": e.version, "rows": e.n_rows, "by": e.created_by,
                    "sha256": e.sha256[:12], "at": e.created_at.strftime("%Y-%m-%d %H:%M"),
                    "guidelines": (e.params or {}).get("guidelines_version", "-"), "folder": str(Path(e.path).parent)}
                   for e in session.scalars(select(DatasetExport).order_by(DatasetExport.id.desc()))]
        approved = {d: n for d in datasets
                    if (n := sum(status_counts(session, d).get(s, 0) for s in ("auto_accepted", "accepted")))}
    if not approved:
        st.info("No dataset has approved dialogues yet: route judged candidates (`lumicrs augment route`) and "
                "review the borderline ones first.")
    else:
        dataset = st.selectbox("Dataset (only those with approved dialogues)", list(approved), key="export_dataset")
        with transaction() as session:
            preview = export_preview(session, dataset)
        st.caption(f"{preview['rows']} body/tail dialogues would be exported to {get_settings().export_dir}/"
                   f"<name>/v<N>/ ({approved[dataset]} approved in all tiers).")
        warning = placeholder_warning(preview, preview["rows"])
        if warning:
            st.warning(f"{warning}. {PLACEHOLDER_NOTICE}")
        st.caption("Generators: " + ", ".join(f"{g} ({n})" for g, n in preview["generators"].items()))
        left, right = st.columns(2)
        left.dataframe(pd.DataFrame(preview["by_tier"].items(), columns=["tier", "dialogues"]), hide_index=True)
        right.dataframe(pd.DataFrame(preview["by_decision"].items(), columns=["decided", "dialogues"]), hide_index=True)
        st.dataframe(pd.DataFrame([{"target": r.target_title, "tier": r.tier, "decided": r.decided_how,
                                    "first turns": " / ".join(t.text for t in r.turns[:2])} for r in preview["sample"]]),
                     hide_index=True)
        st.text_input("Export name (lower-case letters, digits, '.', '_', '-')", value=f"{dataset}-augmented",
                      key=f"export_name_{dataset}")
        st.checkbox(f"Write a new version with these {preview['rows']} dialogues", key=f"export_confirm_{dataset}")
        st.button("Export new version", type="primary", on_click=_export, args=(identity[0], dataset),
                  disabled=preview["rows"] == 0)
        flash(FLASH)
    st.subheader("Previous exports")
    if exports:
        st.dataframe(pd.DataFrame(exports), hide_index=True)
    else:
        st.caption("None yet.")
