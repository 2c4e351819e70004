"""Pairwise judge prompts: two answers to one task, scored side by side on a 1-10 scale.

LLM-KICK (Jaiswal et al., ICLR 2024: the in-context summarization and the instruction-following
settings) asks GPT-4 to compare a compressed model's answer with a reference answer, in the layout of the Vicuna / FastChat review prompts
used by its reference code: the task, each assistant's answer between start and end markers,
then a ``[System]`` request whose reply puts the scores on the first line(s) and the
explanation after. Two prompt sets (``PROMPT_SETS``):

* ``ours`` (the default): our wording in the reference's layout and reply format, so
  :mod:`kick_tasks.judge.parsing` reads replies to either. Rubrics ``summary`` (four criteria:
  coherence, consistency, fluency, relevance, one line each) and ``general``, ``coding``,
  ``math`` (one overall score; the reference picks the rubric by question category: coding
  and math have their own);
* ``reference``: the reference code's own judge prompts, word for word, for the
  ``kick_reference_*`` tasks: ``reference_summary`` from
  ``in-context_summarization/json_utils/prompt.jsonl`` (its three entries, one per length
  group, are identical), ``reference_general``, ``reference_coding`` and ``reference_math``
  from ``mt_conversation/table/prompt.jsonl`` (prompts 1, 2 and 3), each with its system
  prompt and its ``prompt_template`` (blank lines before the end markers; the summary
  template's ``Assistant 2's Answer`` start marker is the reference's own slip).
"""

from __future__ import annotations

from dataclasses import dataclass

SUMMARY_CRITERIA = ("coherence", "consistency", "fluency", "relevance")
OVERALL = ("overall",)


PROMPT_SETS = ("ours", "reference")


@dataclass(frozen=True)
class Rubric:
    """One judge prompt: the system message and the user message's template.

    ``template`` holds ``{question}``, ``{answer_1}``, ``{answer_2}`` and ``{prompt}`` (the
    ``request``), filled with :meth:`str.format` as the reference's ``gen_prompt`` does.
    """

    name: str
    criteria: tuple[str, ...]
    system: str
    template: str
    request: str


def _our_template(task_header: str, answer_noun: str) -> str:
    """Our layout: the task, each answer between start and end markers, then the request."""
    return (
        f"[{task_header}]\n{{question}}\n\n"
        f"[The Start of Assistant 1's {answer_noun}]\n{{answer_1}}\n[The End of Assistant 1's {answer_noun}]\n\n"
        f"[The Start of Assistant 2's {answer_noun}]\n{{answer_2}}\n[The End of Assistant 2's {answer_noun}]\n\n"
        "[System]\n{prompt}\n"
    )


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
        template=_our_template("Task", "Summary"),
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
        template=_our_template("Question", "Answer"),
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
        template=_our_template("Question", "Answer"),
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
        template=_our_template("Question", "Answer"),
        request=(
            "Two AI assistants solved the problem above. Work out the correct result yourself, "
            "then check each assistant's steps and final answer; a correct answer reached by "
            "wrong steps is only partly right. Give each answer one overall score from 1 (wrong) "
            "to 10 (fully correct, well explained). " + _SCORE_LINE_ONE + " Your own solution "
            "belongs in the explanation, after the score line."
        ),
    ),
}

# The reference code's own prompts (see the module doc), verbatim.
_REFERENCE_ANSWER_TEMPLATE = (
    "[Question]\n{question}\n\n[The Start of Assistant 1's Answer]\n{answer_1}\n\n"
    "[The End of Assistant 1's Answer]\n\n[The Start of Assistant 2's Answer]\n{answer_2}\n\n"
    "[The End of Assistant 2's Answer]\n\n[System]\n{prompt}\n\n"
)
_REFERENCE_ANSWER_SYSTEM = "You are a helpful and precise assistant for checking the quality of the answer."
_REFERENCE_FEEDBACK = (
    "We would like to request your feedback on the performance of two AI assistants in response to the user "
    "question displayed above.\n"
)
_REFERENCE_NO_BIAS = (
    "In the subsequent line, please provide a comprehensive explanation of your evaluation, avoiding any "
    "potential bias and ensuring that the order in which the responses were presented does not affect your "
    "judgment."
)

RUBRICS.update({
    "reference_summary": Rubric(
        name="reference_summary",
        criteria=SUMMARY_CRITERIA,
        system="You are a helpful and precise assistant for checking the quality of the summarization of two "
        "stories within 150 words.",
        template=(
            "[Story]\n{question}\n\n[The Start of Assistant 1's Summary]\n{answer_1}\n\n"
            "[The End of Assistant 1's Summary]\n\n[The Start of Assistant 2's Answer]\n{answer_2}\n\n"
            "[The End of Assistant 2's Summary]\n\n[System]\n{prompt}\n\n"
        ),
        request=(
            _REFERENCE_FEEDBACK
            + "Please rate the coherence, consistency, fluency, and relevance of summary generated. Each assistant "
            "receives a score on a scale of 1 to 10 for coherence, consistency, fluency and relevance, where a higher "
            "score indicates better overall performance.\nPlease first output four lines containing only two values "
            "indicating the scores for Assistant 1 and 2, respectively for each four metrices. The two scores are "
            "separated by a space. " + _REFERENCE_NO_BIAS
        ),
    ),
    "reference_general": Rubric(
        name="reference_general",
        criteria=OVERALL,
        system=_REFERENCE_ANSWER_SYSTEM,
        template=_REFERENCE_ANSWER_TEMPLATE,
        request=(
            _REFERENCE_FEEDBACK
            + "Please rate the helpfulness, relevance, accuracy, level of details, factual information, and length "
            "of their responses. Each assistant receives an overall score on a scale of 1 to 10, where a higher "
            "score indicates better overall performance.\nPlease first output a single line containing only two "
            "values indicating the scores for Assistant 1 and 2, respectively. The two scores are separated by a "
            "space. " + _REFERENCE_NO_BIAS
        ),
    ),
    "reference_coding": Rubric(
        name="reference_coding",
        criteria=OVERALL,
        system=_REFERENCE_ANSWER_SYSTEM,
        template=_REFERENCE_ANSWER_TEMPLATE,
        request=(
            "Your task is to evaluate the coding abilities of the above two assistants. They have been asked to "
            "implement a program to solve a given problem. Please review their code submissions, paying close "
            "attention to their problem-solving approach, code structure, readability, and the inclusion of "
            "helpful comments.\n\nPlease ensure that the assistants' submissions:\n\n1. Correctly implement the "
            "given problem statement.\n2. Contain accurate and efficient code.\n3. Include clear and concise "
            "comments that explain the code's logic and functionality.\n4. Adhere to proper coding standards and "
            "best practices.\n\nOnce you have carefully reviewed both submissions, provide detailed feedback on "
            "their strengths and weaknesses, along with any suggestions for improvement. You should first output a "
            "single line containing two scores on the scale of 1-10 (1: no code/no sense; 10: perfect) for "
            "Assistant 1 and 2, respectively. Then give extra comments starting from the next line."
        ),
    ),
    "reference_math": Rubric(
        name="reference_math",
        criteria=OVERALL,
        system=_REFERENCE_ANSWER_SYSTEM,
        template=_REFERENCE_ANSWER_TEMPLATE,
        request=(
            "We would like to request your feedback on the mathematical proficiency of two AI assistants regarding "
            "the given user question displayed above.\nFirst, please solve the problem independently, without "
            "referring to the answers provided by Assistant 1 and Assistant 2.\nAfterward, please examine the "
            "problem-solving process of Assistant 1 and Assistant 2 step-by-step to ensure their correctness, "
            "identifying any incorrect steps if present. Your evaluation should take into account not only the "
            "answer but also the problem-solving steps.\nFinally, please output a Python tuple containing two "
            "numerical scores for Assistant 1 and Assistant 2, ranging from 1 to 10, respectively. If applicable, "
            "explain the reasons for any variations in their scores and determine which assistant performed better."
        ),
    ),
})

# The reference code's reviewer table: coding and math questions get their own rubric.
CATEGORY_RUBRIC = {"coding": "coding", "math": "math"}


def rubric_for(task_set: str, category: str, prompts: str = "ours") -> str:
    """Rubric name for a question of ``category`` in ``task_set`` (summarization or conversation),
    from the prompt set ``prompts`` (one of ``PROMPT_SETS``)."""
    if prompts not in PROMPT_SETS:
        raise ValueError(f"unknown judge prompt set {prompts!r}; known: {list(PROMPT_SETS)}")
    name = "summary" if task_set == "kick_summarization" else CATEGORY_RUBRIC.get(category, "general")
    return name if prompts == "ours" else f"reference_{name}"


def build_messages(rubric: str, question: str, answer_1: str, answer_2: str) -> list[dict[str, str]]:
    """Chat messages asking the judge to score ``answer_1`` (Assistant 1) and ``answer_2``."""
    try:
        r = RUBRICS[rubric]
    except KeyError:
        raise ValueError(f"unknown judge rubric {rubric!r}; known: {sorted(RUBRICS)}") from None
    user = r.template.format(question=question, answer_1=answer_1, answer_2=answer_2, prompt=r.request)
    return [{"role": "system", "content": r.system}, {"role": "user", "content": user}]
