"""``kick_ppl``: lm-eval's WikiText-2 perplexity (Merity et al., 2016), also from a local copy.

LLM-KICK contrasts perplexity, which barely moves under compression, with the knowledge tasks,
which collapse. The task is lm-eval's ``wikitext`` (document level, rolling log-likelihood,
word/byte perplexity and bits per byte); only the data hook is ours:

* hub: ``EleutherAI/wikitext_document_level`` config ``wikitext-2-raw-v1``, split ``test``
  (what lm-eval's ``wikitext`` reads);
* local: ``wikitext2/wikitext2_test.txt``, the raw test rows joined by blank lines (the usual
  GPTQ-style perplexity string), cut into articles at their ``" = Title = "`` lines.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from kick_tasks import data

HUB_ID = "EleutherAI/wikitext_document_level"
HUB_CONFIG = "wikitext-2-raw-v1"
SPLIT = "test"
LOCAL_FILE = "wikitext2/wikitext2_test.txt"
LOCAL_FORMAT = "UTF-8 text of the WikiText-2 raw test rows joined by blank lines"
ARTICLE_TITLE = re.compile(r"^ = [^=\n].* = $", re.MULTILINE)  # " = = Section = = " is not one


def load_wikitext2(**kwargs: Any):
    """``custom_dataset`` hook: ``{"test": [{"page": article}, ...]}``."""
    import datasets

    def from_local(folder):
        path = data.local_file(folder, LOCAL_FILE, fmt=LOCAL_FORMAT, hub_id=HUB_ID)
        try:
            pages = split_articles(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as err:
            pages, problem = [], f"not UTF-8 ({err.reason} at byte {err.start})"
        else:
            problem = "no ' = Title = ' article line"
        if not pages:
            raise data.KickDataError(
                f"malformed local data file {str(path)!r}: {problem}; "
                f"expected {LOCAL_FORMAT} (hub {HUB_ID!r})"
            )
        return datasets.DatasetDict({SPLIT: datasets.Dataset.from_list([{"page": page} for page in pages])})

    def from_hub():
        return datasets.DatasetDict({SPLIT: data.load_hub(HUB_ID, HUB_CONFIG, split=SPLIT)})

    return data.local_or_hub(kwargs, from_local, from_hub)


def split_articles(text: str) -> list[str]:
    """The articles of a WikiText string, each from its title line to the next title."""
    bounds = [match.start() for match in ARTICLE_TITLE.finditer(text)] + [len(text)]
    return [text[start:end] for start, end in itertools.pairwise(bounds)]
