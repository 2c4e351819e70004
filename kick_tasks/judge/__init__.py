"""The LLM judge of the generative tasks: LLM-KICK's pairwise 1-10 scores against a reference, and MT-Bench's.

* :mod:`.config`: which endpoint and model (``--metadata judge_*`` or ``KICK_JUDGE_*``);
* :mod:`.prompts`: our judge prompts in the reference code's layout, and the reference's own;
* :mod:`.client`: an OpenAI-compatible chat client with retries and back-off;
* :mod:`.cache`: every judgment on disk, append-only, so runs resume for free;
* :mod:`.parsing`: scores out of free-text replies (unreadable ones counted, never zeros);
* :mod:`.asking`: a batch of requests asked concurrently, each answered once (cache, client);
* :mod:`.pairwise`: concurrent judging in both orders and the relative score;
* :mod:`.mtbench`: MT-Bench's protocol (Zheng et al. 2023): 1-10 ratings and A/B verdicts.
"""

from .cache import JudgmentCache, judgment_key, open_cache
from .client import ChatClient, JudgeError, JudgeRequestRejected, JudgeUnavailableError
from .config import JudgeConfig, JudgeConfigError, judge_config
from .pairwise import Pair, Verdict, disagreement_rate, invalid_count, judge_pairs, mean_scores, relative_score
from .parsing import PairScores, parse_scores
from .prompts import RUBRICS, SUMMARY_CRITERIA, build_messages, rubric_for

__all__ = [
    "RUBRICS",
    "SUMMARY_CRITERIA",
    "ChatClient",
    "JudgeConfig",
    "JudgeConfigError",
    "JudgeError",
    "JudgeRequestRejected",
    "JudgeUnavailableError",
    "JudgmentCache",
    "Pair",
    "PairScores",
    "Verdict",
    "build_messages",
    "disagreement_rate",
    "invalid_count",
    "judge_config",
    "judge_pairs",
    "judgment_key",
    "mean_scores",
    "open_cache",
    "parse_scores",
    "relative_score",
    "rubric_for",
]
