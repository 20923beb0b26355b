"""Export page (leads only): versioned JSONL + parquet of approved augmented dialogues."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from sqlalchemy import select

from annotator.errors import PermissionDenied
from annotator.export import export_approved
from annotator.ui_common import require_identity, transaction
from db.models import Dataset, DatasetExport, Reviewer
from db.queries.candidates import status_counts


def _export(reviewer_id: int) -> None:
    dataset, name = st.session_state["export_dataset"], st.session_state["export_name"].strip()
    if not name:
        st.session_state["export_flash"] = ("error", "Give the export a name.")
        return
    try:
        with transaction(write=True) as session:
            export = export_approved(session, dataset, name, session.get_one(Reviewer, reviewer_id),
                                     Path(st.session_state.get("export_dir", "exports")))
            message = f"Exported {export.n_rows} dialogues as {export.name} v{export.version} (sha256 {export.sha256[:12]}…)"
        st.session_state["export_flash"] = ("success", message)
    except (PermissionDenied, OSError) as exc:
        st.session_state["export_flash"] = ("error", str(exc))


def render() -> None:
    st.title("Export approved data")
    identity = require_identity()
    if identity is None:
        return
    if identity[2] != "lead":
        st.warning(f"Only leads can export datasets; you are signed in as a {identity[2]}.")
        return
    flash = st.session_state.pop("export_flash", None)
    if flash:
        (st.success if flash[0] == "success" else st.error)(flash[1])
    with transaction() as session:
        datasets = list(session.scalars(select(Dataset.name).order_by(Dataset.name)))
        exports = [{"name": e.name, "version": e.version, "rows": e.n_rows, "by": e.created_by,
                    "sha256": e.sha256, "path": e.path, "at": e.created_at}
                   for e in session.scalars(select(DatasetExport).order_by(DatasetExport.id.desc()))]
        counts = {d: status_counts(session, d) for d in datasets}
    if not datasets:
        st.info("No dataset ingested yet.")
        return
    dataset = st.selectbox("Dataset", datasets, key="export_dataset")
    approved = counts[dataset].get("auto_accepted", 0) + counts[dataset].get("accepted", 0)
    st.caption(f"{approved} approved dialogues (auto-accepted by 4-5 judges or accepted by reviewers).")
    st.text_input("Export name", value=f"{dataset}-augmented", key="export_name")
    st.text_input("Folder", value="exports", key="export_dir")
    st.button("Export new version", type="primary", on_click=_export, args=(identity[0],))
    st.subheader("Previous exports")
    if exports:
        st.dataframe(pd.DataFrame(exports), hide_index=True)
