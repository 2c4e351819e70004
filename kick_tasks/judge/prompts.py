"""Pairwise judge prompts: two answers to one task, scored side by side on a 1-10 scale.

LLM-KICK (Jaiswal et al., ICLR 2024: the in-context summarization and the instruction-following
settings) asks GPT-4 to compare a compressed model's answer with a reference answer, in the layout of the Vicuna / FastChat review prompts
used by its reference code: the task, each assistant's answer between start and end markers,
then a ``[System]`` request whose reply puts the scores on the first line(s) and the
explanation after. The wording below is ours; the layout and the reply format are the
reference's, so :mod:`kick_tasks.judge.parsing` reads replies to either.

Rubrics:

* ``summary``: four criteria (coherence, consistency, fluency, relevance), one line each;
* ``general``, ``coding``, ``math``: one overall score (instruction following; the reference
  picks the rubric by question category: coding and math have their own).
"""

from __future__ import annotations

from dataclasses import dataclass

SUMMARY_CRITERIA = ("coherence", "consistency", "fluency", "relevance")
OVERALL = ("overall",)


@dataclass(frozen=True)
class Rubric:
    name: str
    criteria: tuple[str, ...]
    system: str
    task_header: str
    answer_noun: str
    request: str


_SCORE_LINE_ONE = (
    "Start your reply with one line that holds only the two scores, Assistant 1's first, "
    "separated by a space (for example: 7 5). From the next line on, explain your scores. "
    "Judge the content only: the order in which the answers are shown, their length and the "
    "assistants' names must not affect your scores."
)

RUBRICS = {
    "summary": Rubric(
        name="summary",
        criteria=SUMMARY_CRITERIA,
        system="You are a careful, impartial reviewer of news summaries.",
        task_header="Task",
        answer_noun="Summary",
        request=(
            "Two AI assistants were given the task above: summarise the story in fewer than 150 "
            "words. Score each summary from 1 (worst) to 10 (best) on four criteria:\n"
            "- coherence: the summary is well structured and reads as one logical whole;\n"
            "- consistency: every fact in the summary is supported by the story (no invented or "
            "contradicted details);\n"
            "- fluency: the sentences are grammatical and easy to read;\n"
            "- relevance: the summary keeps the story's important points and leaves out trivia.\n"
            "Start your reply with exactly four lines, one per criterion in the order coherence, "
            "consistency, fluency, relevance; each line holds only two scores, Assistant 1's "
            "first, separated by a space (for example: 8 6). From the fifth line on, explain your "
            "scores. Judge the content only: the order in which the summaries are shown, their "
            "length and the assistants' names must not affect your scores."
        ),
    ),
    "general": Rubric(
        name="general",
        criteria=OVERALL,
        system="You are a careful, impartial reviewer of answers written by AI assistants.",
        task_header="Question",
        answer_noun="Answer",
        request=(
            "Two AI assistants answered the question above. Rate how well each answer serves the "
            "user: helpfulness, relevance, accuracy, depth and level of detail. Give each answer "
            "one overall score from 1 (worst) to 10 (best). " + _SCORE_LINE_ONE
        ),
    ),
    "coding": Rubric(
        name="coding",
        criteria=OVERALL,
        system="You are a careful, impartial reviewer of code written by AI assistants.",
        task_header="Question",
        answer_noun="Answer",
        request=(
            "Two AI assistants were asked to write a program for the problem above. Review each "
            "submission: does it solve the stated problem correctly, is it efficient, is it "
            "readable and sensibly commented, does it follow good practice for its language? "
            "Give each submission one overall score from 1 (no code or nonsense) to 10 (correct "
            "and clean). " + _SCORE_LINE_ONE
        ),
    ),
    "math": Rubric(
        name="math",
        criteria=OVERALL,
        system="You are a careful, impartial reviewer of mathematical solutions written by AI assistants.",
        task_header="Question",
        answer_noun="Answer",
        request=(
            "Two AI assistants solved the problem above. Work out the correct result yourself, "
            "then check each assistant's steps and final answer; a correct answer reached by "
            "wrong steps is only partly right. Give each answer one overall score from 1 (wrong) "
            "to 10 (fully correct, well explained). " + _SCORE_LINE_ONE + " Your own solution "
            "belongs in the explanation, after the score line."
        ),
    ),
}

# The reference code's reviewer table: coding and math questions get their own rubric.
CATEGORY_RUBRIC = {"coding": "coding", "math": "math"}


def rubric_for(task_set: str, category: str) -> str:
    """Rubric name for a question of ``category`` in ``task_set`` (summarization or conversation)."""
    if task_set == "kick_summarization":
        return "summary"
    return CATEGORY_RUBRIC.get(category, "general")


def build_messages(rubric: str, question: str, answer_1: str, answer_2: str) -> list[dict[str, str]]:
    """Chat messages asking the judge to score ``answer_1`` (Assistant 1) and ``answer_2``."""
    try:
        r = RUBRICS[rubric]
    except KeyError:
        raise ValueError(f"unknown judge rubric {rubric!r}; known: {sorted(RUBRICS)}") from None
    noun = r.answer_noun
    user = (
        f"[{r.task_header}]\n{question}\n\n"
        f"[The Start of Assistant 1's {noun}]\n{answer_1}\n[The End of Assistant 1's {noun}]\n\n"
        f"[The Start of Assistant 2's {noun}]\n{answer_2}\n[The End of Assistant 2's {noun}]\n\n"
        f"[System]\n{r.request}\n"
    )
    return [{"role": "system", "content": r.system}, {"role": "user", "content": user}]
