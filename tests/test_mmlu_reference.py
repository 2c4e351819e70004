"""``kick_mmlu`` through lm-eval equals the reference protocol computed directly.

On the real MMLU files and the small real model (SmolLM2-135M-Instruct), for a fixed subset
of 204 questions (the first 34 of the six subjects with the shortest 5-shot prompts, to keep
the run short on a CPU), 5-shot (the default) and zero-shot (``--num_fewshot 0``, the
paper's zero-shot MMLU): the reference's prompt (pandas, k shots, 2,048-token rule), one
forward pass, the greedy next token (the argmax of the next-token logits, as
``model.generate(max_length=len + 1)`` picks it) decoded with the prompt, its last character
(``acc``), and the argmax of the same logits over `` A`` .. `` D`` (``acc_mc``).
"""

from __future__ import annotations

import pandas as pd
import pytest
from fixtures.kick_eval import evaluate, reference_mmlu_prompt

SUBJECTS = (
    "world_religions",
    "management",
    "conceptual_physics",
    "human_aging",
    "philosophy",
    "miscellaneous",
)
PER_SUBJECT = 34


def reference_scores(model_dir, data_dir, n_shots: int) -> dict[tuple[str, int], tuple[float, float]]:
    """``(acc, acc_mc)`` per ``(subject, question index)``, computed the way the reference does."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    letter_ids = [tokenizer(f" {letter}", add_special_tokens=False).input_ids for letter in "ABCD"]
    assert all(len(ids) == 1 for ids in letter_ids)
    letter_ids = [ids[0] for ids in letter_ids]

    scores = {}
    for subject in SUBJECTS:
        labels = pd.read_csv(data_dir / "mmlu" / "test" / f"{subject}_test.csv", header=None)[5]
        for index in range(PER_SUBJECT):
            prompt = reference_mmlu_prompt(
                data_dir, subject, index, lambda p: len(tokenizer(p).input_ids), n_shots=n_shots
            )
            input_ids = tokenizer(prompt).input_ids
            with torch.inference_mode():
                next_token_logits = model(torch.tensor([input_ids])).logits[0, -1]
            greedy = int(next_token_logits.argmax())  # what generate(do_sample=False) picks
            text = tokenizer.decode(
                input_ids + [greedy], skip_special_tokens=True, clean_up_tokenization_spaces=False
            )
            label = labels[index]
            letter = "ABCD"[int(next_token_logits[letter_ids].argmax())]
            scores[subject, index] = (float(text[-1:] == label), float(letter == label))
    return scores


@pytest.mark.slow
@pytest.mark.parametrize("num_fewshot", [5, 0])
def test_lm_eval_accuracy_equals_the_reference_protocol(smollm2_dir, shared_data, num_fewshot):
    tasks = [f"kick_mmlu_{subject}" for subject in SUBJECTS]
    out = evaluate(smollm2_dir, tasks, shared_data, limit=PER_SUBJECT, num_fewshot=num_fewshot)
    assert {task: out["n-shot"][task] for task in tasks} == dict.fromkeys(tasks, num_fewshot)
    ours = {
        (subject, sample["doc_id"]): (sample["acc"], sample["acc_mc"])
        for subject in SUBJECTS
        for sample in out["samples"][f"kick_mmlu_{subject}"]
    }
    reference = reference_scores(smollm2_dir, shared_data, num_fewshot)
    assert len(ours) == len(reference) == len(SUBJECTS) * PER_SUBJECT >= 200
    for column, metric in enumerate(("acc", "acc_mc")):
        ours_mean = sum(score[column] for score in ours.values()) / len(ours)
        reference_mean = sum(score[column] for score in reference.values()) / len(reference)
        differing = [key for key in reference if ours[key][column] != reference[key][column]]
        assert abs(ours_mean - reference_mean) <= 0.001, (metric, ours_mean, reference_mean, differing)
        print(
            f"{num_fewshot}-shot {metric}: lm-eval {ours_mean:.4f}, reference protocol {reference_mean:.4f}, {len(differing)} questions differ"
        )
