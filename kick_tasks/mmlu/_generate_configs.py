"""Write one ``kick_mmlu_<subject>.yaml`` per MMLU subject into this folder (or ``--out``).

Subjects fall into the four categories of the MMLU authors' ``categories.py`` (hendrycks/test),
which the LLM-KICK reference imports to report its per-category accuracies. It differs from
lm-eval's own ``mmlu`` grouping in one subject: ``anatomy`` is "health", i.e. *other*, not STEM.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

CATEGORY_OF_SUBCATEGORY = {
    **dict.fromkeys(["physics", "chemistry", "biology", "computer science", "math", "engineering"], "stem"),
    **dict.fromkeys(["history", "philosophy", "law"], "humanities"),
    **dict.fromkeys(["politics", "culture", "economics", "geography", "psychology"], "social_sciences"),
    **dict.fromkeys(["other", "business", "health"], "other"),
}
SUBCATEGORY = {
    "abstract_algebra": "math",
    "anatomy": "health",
    "astronomy": "physics",
    "business_ethics": "business",
    "clinical_knowledge": "health",
    "college_biology": "biology",
    "college_chemistry": "chemistry",
    "college_computer_science": "computer science",
    "college_mathematics": "math",
    "college_medicine": "health",
    "college_physics": "physics",
    "computer_security": "computer science",
    "conceptual_physics": "physics",
    "econometrics": "economics",
    "electrical_engineering": "engineering",
    "elementary_mathematics": "math",
    "formal_logic": "philosophy",
    "global_facts": "other",
    "high_school_biology": "biology",
    "high_school_chemistry": "chemistry",
    "high_school_computer_science": "computer science",
    "high_school_european_history": "history",
    "high_school_geography": "geography",
    "high_school_government_and_politics": "politics",
    "high_school_macroeconomics": "economics",
    "high_school_mathematics": "math",
    "high_school_microeconomics": "economics",
    "high_school_physics": "physics",
    "high_school_psychology": "psychology",
    "high_school_statistics": "math",
    "high_school_us_history": "history",
    "high_school_world_history": "history",
    "human_aging": "health",
    "human_sexuality": "culture",
    "international_law": "law",
    "jurisprudence": "law",
    "logical_fallacies": "philosophy",
    "machine_learning": "computer science",
    "management": "business",
    "marketing": "business",
    "medical_genetics": "health",
    "miscellaneous": "other",
    "moral_disputes": "philosophy",
    "moral_scenarios": "philosophy",
    "nutrition": "health",
    "philosophy": "philosophy",
    "prehistory": "history",
    "professional_accounting": "other",
    "professional_law": "law",
    "professional_medicine": "health",
    "professional_psychology": "psychology",
    "public_relations": "politics",
    "security_studies": "politics",
    "sociology": "culture",
    "us_foreign_policy": "politics",
    "virology": "health",
    "world_religions": "philosophy",
}


def subject_config(subject: str) -> dict:
    return {
        "include": "_default_template_yaml",
        "task": f"kick_mmlu_{subject}",
        "task_alias": subject.replace("_", " "),
        "tag": f"kick_mmlu_{CATEGORY_OF_SUBCATEGORY[SUBCATEGORY[subject]]}_tasks",
        "dataset_kwargs": {"subject": subject},
    }


def write_configs(folder: Path) -> list[Path]:
    paths = []
    for subject in SUBCATEGORY:
        path = folder / f"kick_mmlu_{subject}.yaml"
        path.write_text(yaml.dump(subject_config(subject), sort_keys=True), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    write_configs(parser.parse_args().out)
