"""One-line mutations of the code each fidelity row names (docs/fidelity.md), run against the tests that row names.

    .venv/bin/python scripts/fidelity_mutations.py                 # every row; writes reports/fidelity-mutations.json
    .venv/bin/python scripts/fidelity_mutations.py --rows "Tiers:" # the rows whose statement starts so
    .venv/bin/python scripts/fidelity_mutations.py --docs          # only rewrite the table's last column from the report

A row is pinned when each of its mutants (a formula, threshold or count changed by one line) makes one of the row's
named tests fail. Each mutant changes the working tree, runs the row's tests (slow ones included: they are named
because they pin the row), and restores the file, also on Ctrl+C. About 15 s per mutant on 2 cores; not part of CI.
The table's last column is written from the report; tests/test_fidelity_table.py checks the two agree and that every
mutant's text is still in its file exactly once.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "fidelity.md"
REPORT = ROOT / "reports" / "fidelity-mutations.json"


@dataclass(frozen=True)
class Mutant:
    file: str
    text: str
    replacement: str


LT, SIM, PRO, DATA = "db/queries/longtail.py", "augment/similarity.py", "augment/prototypes.py", "trainer/data.py"
SET, LOSS, LOOP, MET = "augment/settings.py", "trainer/losses.py", "trainer/loop.py", "trainer/metrics.py"
ML, CFG = "augment/multilabel.py", "trainer/config.py"

# keyed by how the row's statement (first cell) starts
ROWS: dict[str, list[Mutant]] = {
    "Tiers: head": [Mutant(LT, "    if count >= thresholds.head_min:", "    if count > thresholds.head_min:")],
    "pop(m)": [Mutant(LT, "        select(Mention.movie_id, func.count())",
                      "        select(Mention.movie_id, func.count(func.distinct(Conversation.id)))")],
    "body/tail subsets": [Mutant(PRO, 'if tiers.get(movie) in ("body", "tail"):',
                                 'if tiers.get(movie) in ("head", "body", "tail"):')],
    "Composite similarity": [
        Mutant(SIM, "w.semantic * cosine + w.emotional * emotion + w.overlap * inter",
               "w.semantic * cosine + w.overlap * emotion + w.emotional * inter"),
        Mutant(SIM, "emotion = 1.0 / (1.0 + l1)", "emotion = 1.0 / (1.0 + 2 * l1)"),
        Mutant(SIM, "interaction = cosine * emotion / (1.0 + np.exp(-w.alpha * inter))",
               "interaction = cosine / (1.0 + np.exp(-w.alpha * inter))")],
    "The prototype:": [Mutant(PRO, "representativeness = neighbour_scores.mean(axis=1)",
                              "representativeness = neighbour_scores.max(axis=1)")],
    "Support set S_m": [Mutant(SIM, "order = np.argsort(-part_scores, axis=1)", "order = np.argsort(part_scores, axis=1)")],
    "S_1 =": [Mutant(DATA, "    return of(Prototype.conversation_id) | of(SupportExample.conversation_id)",
                     "    return of(Prototype.conversation_id)")],
    "Generation counts": [Mutant(SET, "tail_dialogues: tuple[int, int] = (8, 10)", "tail_dialogues: tuple[int, int] = (4, 5)"),
                          Mutant(SET, "body_dialogues: tuple[int, int] = (4, 5)", "body_dialogues: tuple[int, int] = (8, 10)"),
                          Mutant("augment/generate.py", 'low, high = tail_range if tier == "tail" else body_range',
                                 'low, high = body_range if tier == "tail" else tail_range')],
    "Augmentation temperature": [Mutant(SET, "temperature: float = 0.7 ", "temperature: float = 0.8 ")],
    "The prompt": [Mutant("augment/templates/generate.jinja2", "{% for example in support %}",
                          "{% for example in support[:0] %}"),
                   Mutant("augment/writer.py", 'recommends "{target.title}":\\n', 'recommends a movie:\\n')],
    "Near-duplicate filter": [Mutant("augment/filtering.py", "        if sim > threshold:", "        if sim >= threshold:"),
                              Mutant("augment/filtering.py", "PAPER_THRESHOLD = 0.85", "PAPER_THRESHOLD = 0.86")],
    "Augmentation ratio": [Mutant(DATA, "int(augment_ratio * len(originals))", "int(augment_ratio * len(train))")],
    "Five judges:": [Mutant("augment/routing.py", "    if passes >= accept_min:", "    if passes > accept_min:"),
                     Mutant("augment/routing.py", "    if passes >= review_min:", "    if passes > review_min:")],
    "ACFL Eq. 2": [Mutant(LOSS, "return (counts.float() + eps).pow(-power)", "return (counts.float() + 1.0).pow(-power)")],
    "ACFL Eq. 3-4": [Mutant(LOSS, "alpha_t = (params.alpha * p_t + params.eps)",
                            "alpha_t = (params.alpha * (1 - p_t) + params.eps)"),
                     Mutant(LOSS, "alpha_t, gamma_t = acfl_factors(p_t.detach(), params)",
                            "alpha_t, gamma_t = acfl_factors(p_t, params)")],
    "ACFL Eq. 5": [Mutant(LOSS, "tau_k = torch.quantile(p_t, k)", "tau_k = torch.quantile(p_t, 1 - k)")],
    "ACFL Eq. 6": [Mutant(LOSS, "weights[rare] = 1.0 + 1.0 / counts[rare]", "weights[rare] = 1.0 + 0.5 / counts[rare]")],
    "ACFL per-sample loss": [Mutant(LOSS, "return per_example[mask].mean()", "return per_example[mask].sum()")],
    "Prototype learning": [Mutant("trainer/model.py", "centroids[j] = members.mean(dim=0)", "centroids[j] = members[0]")],
    "R@k, NDCG@k": [Mutant(MET, '"ndcg": np.where(found, 1.0 / np.log2(safe + 2.0), 0.0),',
                           '"ndcg": np.where(found, 1.0 / np.log2(safe + 3.0), 0.0),'),
                    Mutant(MET, '"mrr": np.where(found, 1.0 / (safe + 1.0), 0.0)}',
                           '"mrr": np.where(found, 1.0 / (safe + 2.0), 0.0)}')],
    "Tail-Recall@k": [Mutant(MET, "len(np.unique(ranked[:, :k]))", "len(np.unique(ranked))")],
    "ILD@k": [Mutant(MET, "total += float((1.0 - off_diag / (k * (k - 1))).sum())",
                     "total += float((1.0 - off_diag / (k * k)).sum())")],
    "PWP": [Mutant(MET, "weights = np.log1p(popularity[targets]) / top",
                   "weights = 1.0 / (1.0 + np.log1p(popularity[targets]))")],
    "Conversation metrics": [Mutant(MET, "brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / max(hyp_len, 1))",
                                    "brevity = 1.0")],
    "Rubrics": [Mutant("augment/structured.py", "Score = Annotated[Literal[1, 2, 3, 4, 5]",
                       "Score = Annotated[Literal[1, 2, 3, 4, 5, 6]"),
                Mutant("db/rubrics.py", "for n, text in enumerate(self.levels, 1)", "for n, text in enumerate(self.levels)")],
    "Human study": [Mutant("db/queries/responses.py", "STUDY_RESPONSES, STUDY_HUMAN_RESPONSES, STUDY_RATERS = 1000, 200, 3",
                           "STUDY_RESPONSES, STUDY_HUMAN_RESPONSES, STUDY_RATERS = 1000, 100, 3")],
    "Beyond Single Labels: retriever top-50": [
        Mutant(ML, "if 0 <= i < n_candidates and 0.0 <= s <= 4.0", "if 0 <= i < n_candidates and 0.0 <= s <= 5.0"),
        Mutant(ML, "top_k: int = 50,", "top_k: int = 40,")],
    "Pretrain on the soft multi-labels": [
        Mutant(LOOP, "loss = soft_label_term(logits, feats, idx, device, multilabel_soft_ce)",
               "loss = soft_label_term(logits, feats, idx, device, kl_soft_labels)"),
        Mutant(LOSS, "return cross_entropy(logits, targets) + kl_alpha * kl_soft_labels(logits, soft_targets)",
               "return cross_entropy(logits, targets) + kl_alpha * multilabel_soft_ce(logits, soft_targets)"),
        Mutant(LOOP, 'if cfg.loss != "ce_kl" and cfg.prototype_weight', "if cfg.prototype_weight")],
    "Tier rule by a threshold": [Mutant(LT, "    if count <= thresholds.tail_max:", "    if count < thresholds.tail_max:")],
    "SimCSE": [Mutant("augment/filtering.py", "a = encode_texts(pending.candidate_texts, encoder_path,",
                      "a = encode_texts(pending.candidate_texts, None,")],
    "GPT-4o generates": [Mutant(SET, 'model: str = "gpt-4o-mini"', 'model: str = "gpt-4o"')],
    "Five diverse LLM judges": [Mutant(SET, '"judge-4", "judge-5"]', '"judge-4"]')],
    "ACFL is": [Mutant(LOSS, "gamma_t = (params.gamma * (1 - p_t))", "gamma_t = (params.gamma * p_t)")],
    "Best factorial setting": [Mutant(CFG, "topk_ratio: float = Field(default=0.25", "topk_ratio: float = Field(default=0.2")],
    "Response models": [Mutant(CFG, "    lr: float = 2e-4\n", "    lr: float = 1e-4\n")],
    "Significance": [Mutant("trainer/evaluation.py", "np.percentile(boot, [2.5, 97.5])", "np.percentile(boot, [5.0, 95.0])")],
    "Table 8 compares": [Mutant(LOSS, "return (-alpha * (1 - p_t).pow(gamma) * log_p).mean()",
                                "return (-alpha * (1 - p_t).pow(gamma / 2) * log_p).mean()")],
    "Augmentation baselines": [Mutant("augment/generators.py",
                                      'roles = ["seeker", "recommender", "seeker", "recommender", "seeker"]',
                                      'roles = ["recommender", "seeker", "seeker", "recommender", "seeker"]'),
                               Mutant("augment/generators.py", 'rng = random.Random(f"{ctx.target.id}:{sample_index}")',
                                      "rng = random.Random()")],
    "Beyond Single Labels' retriever": [Mutant(ML, "order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)",
                                               "order = np.argsort(np.take_along_axis(scores, top, axis=1), axis=1)")],
    "Beyond Single Labels' relevance scorer": [
        Mutant("augment/relevance_local.py", "return 2.0 * genre_share + 2.0 * shares_person",
               "return 2.0 * genre_share + 1.5 * shares_person")],
    "Beyond Single Labels' alpha": [
        Mutant(LOOP, "device),\n                          cfg.two_stage.kl_alpha)", "device),\n                          0.5)"),
        Mutant(LOOP, "loss = loss + cfg.two_stage.kl_alpha * soft_label_term(", "loss = loss + 0.5 * soft_label_term(")],
    "Mixed data against two-stage": [
        Mutant(LOOP, 'cfg.two_stage.strategy == "mixed" and feats.soft', 'cfg.two_stage.strategy == "two_stage" and feats.soft'),
        Mutant("trainer/run.py", 'if cfg.two_stage.enabled and cfg.two_stage.strategy == "two_stage":',
               "if cfg.two_stage.enabled:")],
}


def table_rows() -> list[list[str]]:
    lines = DOC.read_text().splitlines()
    return [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in lines
            if line.startswith("| ") and not line.startswith("| paper's")]


def row_key(statement: str) -> str:
    keys = [k for k in ROWS if statement.startswith(k)]
    if len(keys) != 1:
        raise SystemExit(f"docs/fidelity.md: row {statement[:60]!r} matches {len(keys)} keys of ROWS (need one)")
    return keys[0]


def named_tests(cell: str) -> list[str]:
    """pytest node ids of the tests a row names (each defined once under tests/)."""
    ids = []
    for name in re.findall(r"`(test_\w+)`", cell):
        files = [p for p in sorted((ROOT / "tests").rglob("test_*.py"))
                 if re.search(rf"^def {name}\(", p.read_text(), flags=re.MULTILINE)]
        ids.extend(f"{p.relative_to(ROOT)}::{name}" for p in files)
    return ids


def run_mutant(mutant: Mutant, tests: list[str]) -> str:
    path = ROOT / mutant.file
    original = path.read_text()
    if original.count(mutant.text) != 1:
        raise SystemExit(f"{mutant.file}: {mutant.text!r} is not there exactly once (update {Path(__file__).name})")
    try:
        path.write_text(original.replace(mutant.text, mutant.replacement))
        done = subprocess.run([sys.executable, "-m", "pytest", *tests, "-x", "-q", "-p", "no:cacheprovider"],
                              cwd=ROOT, capture_output=True, text=True)
    finally:
        path.write_text(original)
    return "killed" if done.returncode != 0 else "survived"


def cell(result: dict[str, object]) -> str:
    mutants = result["mutants"]
    assert isinstance(mutants, list)
    killed = sum(m["status"] == "killed" for m in mutants)
    return f"{'killed' if killed == len(mutants) else 'SURVIVED'} {killed}/{len(mutants)}"


def write_docs(report: dict[str, dict[str, object]]) -> None:
    out = []
    for line in DOC.read_text().splitlines():
        if line.startswith("| ") and not line.startswith("| paper's"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            key = row_key(cells[0])
            cells = cells[:4] + [cell(report[key]) if key in report else "not run"]
            line = "| " + " | ".join(cells) + " |"
        out.append(line)
    DOC.write_text("\n".join(out) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="*", help="only the rows whose statement starts with one of these")
    parser.add_argument("--docs", action="store_true", help="only rewrite the table's last column from the report")
    args = parser.parse_args()
    report: dict[str, dict[str, object]] = json.loads(REPORT.read_text())["rows"] if REPORT.exists() else {}
    if not args.docs:
        for cells in table_rows():
            key = row_key(cells[0])
            if args.rows and not any(cells[0].startswith(r) for r in args.rows):
                continue
            tests = named_tests(cells[2])
            results = []
            for mutant in ROWS[key]:
                status = run_mutant(mutant, tests)
                results.append({"file": mutant.file, "text": mutant.text, "replacement": mutant.replacement,
                                "status": status})
                print(f"{status:8s} {key}: {mutant.file}: {mutant.text.strip()[:60]!r} -> {mutant.replacement.strip()[:60]!r}",
                      flush=True)
            report[key] = {"tests": tests, "mutants": results}
            sys.path.insert(0, str(ROOT / "benchmarks"))
            from reporting import write_report
            write_report(REPORT, {"rows": report})
    write_docs(report)
    killed = sum(m["status"] == "killed" for r in report.values() for m in r["mutants"])  # type: ignore[attr-defined]
    total = sum(len(r["mutants"]) for r in report.values())  # type: ignore[arg-type]
    print(f"rows: {len(report)}; mutants killed: {killed}/{total}")


if __name__ == "__main__":
    main()
