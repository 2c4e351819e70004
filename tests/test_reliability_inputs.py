"""Bad input, tried as a hostile user would: each gives one line naming the value and the fix,
before any weight is read or compressed (nothing is written to the cache)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kick_models.kick_lm import KickLM
from kick_tasks import data

ROOT = Path(__file__).resolve().parents[1]


def make(model, tmp_path, **kwargs):
    args = dict(pretrained=str(model), cache_dir=str(tmp_path / "cache"), device="cpu", dtype="float32",
                method="magnitude", sparsity=0.5)
    return KickLM(**{**args, **kwargs})


def one_line_naming(err, *parts):
    message = str(err.value)
    assert "\n" not in message, message
    for part in parts:
        assert part in message, message


def nothing_compressed(tmp_path):
    cache = tmp_path / "cache"
    assert not cache.exists() or not any(cache.glob("*--*")), list(cache.iterdir())


# ------------------------------------------------------------------------ sources
def copy_model(tiny_model_dir, tmp_path, name="model") -> Path:
    folder = tmp_path / name
    shutil.copytree(tiny_model_dir, folder)
    return folder


def truncated(tiny_model_dir, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path)
    weights = folder / "model.safetensors"
    with open(weights, "r+b") as handle:
        handle.truncate(weights.stat().st_size - 100)
    return folder


def cut_in_header(tiny_model_dir, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path)
    (folder / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes()[:50])
    return folder


def junk_header(tiny_model_dir, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path)
    raw = (folder / "model.safetensors").read_bytes()
    length = int.from_bytes(raw[:8], "little")
    (folder / "model.safetensors").write_bytes(raw[:8] + b"{" * length + raw[8 + length:])
    return folder


def junk_bin_only(tiny_model_dir, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not a checkpoint at all")
    return folder


def no_config(tiny_model_dir, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path)
    (folder / "config.json").unlink()
    return folder


def a_file(tiny_model_dir, tmp_path):
    path = tmp_path / "model.safetensors"
    shutil.copy(tiny_model_dir / "model.safetensors", path)
    return path


def gpt2_conv1d(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=1, n_head=2))
    folder = tmp_path / "gpt2"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("build, parts", [
    (lambda d, t: "/nonexistent/models/llama", ["pretrained='/nonexistent/models/llama'", "no such folder", "hub id"]),
    (lambda d, t: "./no-such-model", ["pretrained='./no-such-model'", "no such folder"]),
    (lambda d, t: "~/no/such/model", ["pretrained='~/no/such/model'", "no such folder"]),
    (a_file, ["is a file", "give the model's folder"]),
    (no_config, ["has no config.json", "Hugging Face model folder"]),
    (truncated, ["model.safetensors", "truncated or damaged", "re-download"]),
    (cut_in_header, ["model.safetensors", "truncated or not safetensors", "re-download"]),
    (junk_header, ["model.safetensors", "damaged safetensors header", "re-download"]),
    (junk_bin_only, ["pytorch_model.bin", "safetensors only", "save_pretrained"]),
    (gpt2_conv1d, ["gpt2", "no torch.nn.Linear", "Conv1D", "Llama"]),
], ids=["missing-absolute", "missing-relative", "missing-home", "file", "no-config", "truncated",
        "cut-in-header", "junk-header", "junk-bin-only", "gpt2-conv1d"])
def test_bad_sources_are_named_before_loading(tiny_model_dir, tmp_path, build, parts):
    source = build(tiny_model_dir, tmp_path)
    with pytest.raises(ValueError) as err:
        make(source, tmp_path)
    one_line_naming(err, *parts)
    nothing_compressed(tmp_path)


def test_a_bin_only_source_is_refused_for_method_none_too(tiny_model_dir, tmp_path):
    """README: llm-kick reads safetensors only; a .bin is never handed to torch.load."""
    with pytest.raises(ValueError) as err:
        KickLM(pretrained=str(junk_bin_only(tiny_model_dir, tmp_path)), method="none", device="cpu")
    one_line_naming(err, "pytorch_model.bin", "safetensors only")


def test_an_unknown_hub_id_offline_names_the_id_and_the_fix(tmp_path):
    with pytest.raises(ValueError) as err:
        make("no-such-org/no-such-model", tmp_path)
    one_line_naming(err, "pretrained='no-such-org/no-such-model'", "local hub cache")


# ------------------------------------------------------------------ model args
@pytest.mark.parametrize("kwargs, parts", [
    ({"dtype": "float17"}, ["dtype='float17'", "float32, bfloat16"]),
    ({"dtype": "torch.float17"}, ["dtype='torch.float17'"]),
    ({"dtype": "Linear"}, ["dtype='Linear'"]),
    ({"compress_device": "gpu"}, ["compress_device='gpu'", "cpu, cuda"]),
    ({"compress_device": "cuda:99"}, ["compress_device='cuda:99'"]),
    ({"ignore": "re:.*"}, ["ignore=['re:.*']", "narrow the ignore patterns"]),
    ({"method": "wanda", "calibration": "builtin", "seqlen": 4096}, ["seqlen=4096", "seqlen=2048 or less"]),
], ids=["dtype-float17", "dtype-torch-prefix", "dtype-not-a-dtype", "device-gpu", "device-cuda99",
        "ignore-everything", "seqlen-too-long"])
def test_bad_model_args_are_named_before_loading(tiny_model_dir, tmp_path, kwargs, parts):
    with pytest.raises(ValueError) as err:
        make(tiny_model_dir, tmp_path, **kwargs)
    one_line_naming(err, *parts)
    nothing_compressed(tmp_path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_compress_device_cuda_without_cuda(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError) as err:
        make(tiny_model_dir, tmp_path, compress_device="cuda")
    one_line_naming(err, "compress_device='cuda'", "not available", "compress_device=cpu")
    nothing_compressed(tmp_path)


def test_cache_dir_under_a_file(tiny_model_dir, tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(ValueError) as err:
        make(tiny_model_dir, tmp_path, cache_dir=str(tmp_path / "plain" / "cache"))
    one_line_naming(err, "cache_dir=", "is a file", "give a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_cache_dir(tiny_model_dir, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ValueError) as err:
        make(tiny_model_dir, tmp_path, cache_dir=str(locked / "cache"))
    one_line_naming(err, "not writable", "cache_dir=")


@pytest.mark.parametrize("where, parts", [
    ("file", ["is a file", "export="]),
    ("under-file", ["is a file", "give a folder for export"]),
], ids=["export-is-a-file", "export-under-a-file"])
def test_export_target_is_checked_before_compressing(tiny_model_dir, tmp_path, where, parts):
    (tmp_path / "plain").write_text("x")
    target = tmp_path / "plain" if where == "file" else tmp_path / "plain" / "export"
    with pytest.raises(ValueError) as err:
        make(tiny_model_dir, tmp_path, export=str(target))
    one_line_naming(err, str(target), *parts)
    nothing_compressed(tmp_path)


# ------------------------------------------------------------------ calibration files
@pytest.mark.parametrize("name, content, parts", [
    ("latin1.txt", "Caf\u00e9 cr\u00e8me ".encode("latin-1") * 400, ["latin1.txt", "not UTF-8", "iconv"]),
    ("latin1.jsonl", json.dumps({"text": "x"}).encode() + b"\n" + '{"text": "caf\u00e9"}'.encode("latin-1"),
     ["latin1.jsonl", "not UTF-8"]),
    ("arrays.jsonl", b'["a", "b"]\n["c"]\n', ["arrays.jsonl", "record 0", "'text'"]),
    ("numbers.jsonl", b'{"text": 1}\n', ["numbers.jsonl", "record 0", "'text'"]),
    ("empty.txt", b"  \n", ["empty.txt", "is empty"]),
    ("broken.jsonl", b'{"text": "a"}\n{"text":\n', ["broken.jsonl", "line 2 is not JSON"]),
], ids=["txt-latin1", "jsonl-latin1", "jsonl-arrays", "jsonl-number-text", "txt-empty", "jsonl-broken"])
def test_bad_calibration_files_are_named_before_loading_weights(tiny_model_dir, tmp_path, monkeypatch, name,
                                                               content, parts):
    from compressors.calibration import CalibrationError
    import transformers

    path = tmp_path / name
    path.write_bytes(content)

    def no_weights(*args, **kwargs):
        raise AssertionError("weights were loaded before the calibration file was read")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_weights)
    with pytest.raises(CalibrationError) as err:
        make(tiny_model_dir, tmp_path, method="wanda", calibration=str(path), nsamples=2, seqlen=8)
    one_line_naming(err, *parts)


# ------------------------------------------------------------------ task data files
FIELDS = ("question_id", "text", "category")


@pytest.mark.parametrize("content, parts", [
    ('{"question_id": 1, "text": "caf\u00e9", "category": "c"}\n'.encode("latin-1"), ["not UTF-8", "iconv"]),
    (b'[1, "a", "c"]\n', ["line 1 is a JSON list, not an object"]),
    (b'"question_id text category"\n', ["line 1 is a JSON str, not an object"]),
    (b'42\n', ["line 1 is a JSON int, not an object"]),
    (b'{"question_id": "q-one", "text": "t", "category": "c"}\n', ["question_id='q-one'", "not an integer"]),
    (b'{"question_id": 1.5, "text": "t", "category": "c"}\n', ["question_id=1.5", "not an integer"]),
    (b'{"question_id": true, "text": "t", "category": "c"}\n', ["question_id=True", "not an integer"]),
    (b'{"question_id": 1, "text": "t"}\n', ["line 1 lacks ['category']"]),
], ids=["latin1", "array-row", "string-row", "number-row", "id-word", "id-float", "id-bool", "missing-field"])
def test_bad_question_files_are_named(tmp_path, content, parts):
    path = tmp_path / "questions.jsonl"
    path.write_bytes(content)
    with pytest.raises(data.KickDataError) as err:
        data.read_jsonl(path, FIELDS, integers=["question_id"])
    one_line_naming(err, str(path), *parts)


def test_judged_question_set_checks_its_ids(tmp_path):
    from kick_tasks import judged

    (tmp_path / "kick_conversation").mkdir()
    (tmp_path / "kick_conversation" / "questions.jsonl").write_text('{"question_id": "a1", "text": "t", "category": "c"}\n')
    with pytest.raises(data.KickDataError) as err:
        judged.read_questions("conversation", "kick_conversation/questions.jsonl", {"data_dir": str(tmp_path)})
    one_line_naming(err, "question_id='a1'", "not an integer")


@pytest.mark.parametrize("content, parts", [
    (b'["a", "b"]\n', ["line 1 is a JSON list", "question_id and text"]),
    (b'"just text"\n', ["line 1 is a JSON str"]),
    (b'{"question_id": "x7", "text": "t"}\n', ["question_id='x7'", "not an integer"]),
    ('{"question_id": 1, "text": "caf\u00e9"}\n'.encode("latin-1"), ["not UTF-8"]),
], ids=["array", "string", "id-word", "latin1"])
def test_bad_reference_answer_files_are_named(tmp_path, content, parts):
    from kick_tasks import judged

    path = tmp_path / "answers.jsonl"
    path.write_bytes(content)
    with pytest.raises(data.KickDataError) as err:
        judged._answers_from_file(str(path), "conversation")
    one_line_naming(err, str(path), *parts)


def test_mmlu_csv_in_latin1_is_named(tmp_path):
    from kick_tasks.mmlu import utils as mmlu

    (tmp_path / "mmlu" / "dev").mkdir(parents=True)
    path = tmp_path / "mmlu" / "dev" / "anatomy_dev.csv"
    path.write_bytes("Caf\u00e9?,a,b,c,d,A\n".encode("latin-1"))
    with pytest.raises(data.KickDataError) as err:
        mmlu.read_csv(tmp_path, "mmlu/dev/anatomy_dev.csv")
    one_line_naming(err, str(path), "not UTF-8", "iconv")


def test_freebaseqa_json_in_latin1_is_named(tmp_path):
    from kick_tasks.factoid_qa import utils as factoid

    (tmp_path / "freebaseqa").mkdir()
    path = tmp_path / "freebaseqa" / "FreebaseQA-eval.json"
    path.write_bytes('{"Questions": [{"RawQuestion": "caf\u00e9"}]}'.encode("latin-1"))
    with pytest.raises(data.KickDataError) as err:
        factoid.read_local(tmp_path)
    one_line_naming(err, str(path), "not UTF-8")


# ------------------------------------------------------------------ kick sweep
def sweep(*args, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "kick_models.sweep", *args, "--output", str(tmp_path / "out"),
                           "--cache-dir", str(tmp_path / "cache")], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("case, parts", [
    ("unknown-task", ["unknown task(s) ['kick_no_such_task']", "lm_eval ls tasks"]),
    ("missing-model", ["no such folder"]),
    ("bad-dtype", ["dtype='float17'"]),
])
def test_kick_sweep_checks_model_and_tasks_before_starting_workers(tiny_model_dir, tmp_path, case, parts):
    model = {"missing-model": str(tmp_path / "absent" / "model")}.get(case, str(tiny_model_dir))
    tasks = "kick_no_such_task" if case == "unknown-task" else "kick_demo"
    extra = ["--model-args", "dtype=float17"] if case == "bad-dtype" else []
    done = sweep("--model", model, "--tasks", tasks, "--methods", "dense", "--device", "cpu", *extra, tmp_path=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = [l for l in done.stderr.splitlines() if l.startswith("kick sweep: error:")]
    for part in parts:
        assert part in line
    assert not list((tmp_path / "out").rglob("worker.log"))  # no worker started


def test_compress_api_names_a_conv1d_model_before_touching_weights(tiny_model_dir, tmp_path):
    """The library entry point says the same as --model kick (not 'ignore patterns leave no Linear')."""
    from transformers import AutoModelForCausalLM

    from compressors.api import compress
    from compressors.recipe import Recipe

    model = AutoModelForCausalLM.from_pretrained(gpt2_conv1d(tiny_model_dir, tmp_path))
    before = {name: p.clone() for name, p in model.named_parameters()}
    with pytest.raises(ValueError) as err:
        compress(model, Recipe("magnitude", sparsity=0.5), device="cpu")
    one_line_naming(err, "gpt2", "no torch.nn.Linear", "Conv1D")
    assert all(torch.equal(before[name], p) for name, p in model.named_parameters())
