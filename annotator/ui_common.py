"""Shared Streamlit helpers: cached engine, current reviewer, one transaction per callback."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory, write_transaction
from db.queries.review import ROLES, get_or_create_reviewer
from db.settings import get_settings


@st.cache_resource
def engine_for(url: str) -> Engine:
    return make_engine(url)


def session_factory() -> sessionmaker[Session]:
    return make_session_factory(engine_for(get_settings().database_url))


@contextmanager
def transaction(write: bool = False) -> Iterator[Session]:
    """One callback's unit of work; `write=True` where it claims or decides (BEGIN IMMEDIATE on SQLite)."""
    if write:
        with write_transaction(session_factory()) as session:
            yield session
        return
    with session_factory().begin() as session:
        yield session


def identify() -> tuple[int, str, str] | None:
    """Sidebar sign-in. Returns (reviewer id, name, role) once a name is given; the role is set on first use."""
    with st.sidebar:
        name = st.text_input("Your name", key="reviewer_name", placeholder="e.g. alice")
        role = st.selectbox("Role (first sign-in only)", ROLES, key="reviewer_role")
    if not name.strip():
        return None
    with transaction(write=True) as session:
        reviewer = get_or_create_reviewer(session, name, role)
        identity = (reviewer.id, reviewer.name, reviewer.role)
    st.sidebar.caption(f"Signed in as **{identity[1]}** ({identity[2]})")
    return identity


def require_identity() -> tuple[int, str, str] | None:
    identity = identify()
    if identity is None:
        st.info("Enter your name in the sidebar to start.")
    return identity


def show_turns(turns: list[dict[str, str]]) -> None:
    for turn in turns:
        with st.chat_message("user" if turn["role"] == "seeker" else "assistant"):
            st.markdown(f"**{turn['role'].capitalize()}:** {turn['text']}")
