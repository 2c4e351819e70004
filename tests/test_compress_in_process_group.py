"""Compression inside a process group (``accelerate launch`` data parallelism): one rank
compresses while the others wait on the cache's lock, so llmcompressor must not wait for them
in collectives (it splits calibration over the ranks when a process group is up)."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WAIT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, world: int, port: int, model_dir: str, out) -> None:
    from datetime import timedelta

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=WAIT_S))
    if rank == 1:  # the rank holding the lock (not rank 0, to which llmcompressor leaves the writing)
        from transformers import AutoModelForCausalLM

        from compressors.api import compress, save_checkpoint
        from compressors.recipe import Recipe

        model = AutoModelForCausalLM.from_pretrained(model_dir)
        tokens = torch.randint(0, model.config.vocab_size, (4, 16))
        report = compress(model, Recipe("wanda", sparsity=0.5), tokens, device="cpu", progress=False)
        save_checkpoint(model, None, out.parent / "pruned")
        torch.save({"sparsity": report["sparsity"]["overall"]}, out)
    dist.barrier()
    dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch built without torch.distributed")
def test_one_rank_compresses_while_the_other_waits(tiny_model_dir, tmp_path):
    out = tmp_path / "rank1.pt"
    mp.start_processes(_rank, args=(2, _free_port(), str(tiny_model_dir), out), nprocs=2, join=True,
                       start_method="spawn")
    assert torch.load(out, weights_only=True)["sparsity"] == pytest.approx(0.5, abs=0.02)
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(tmp_path / "pruned").model_type == "llama"  # rank 1 wrote it all
