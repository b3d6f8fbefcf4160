"""The layer-resume seam: stopping before layer l and running from layer l reproduce a full forward pass."""

import copy

import pytest
import torch
from transformers import DynamicCache

from svd_icl.architectures import architecture_for
from svd_icl.resume import hidden_entering, run_from, splice_cache
from tests.tiny_models import FAMILIES, VOCAB, tiny_model

RESUMABLE = [f for f in FAMILIES if architecture_for(tiny_model(f)).resumable]


def _inputs(seed=0, batch=2, length=9):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (batch, length), generator=gen)
    mask = torch.ones_like(ids)
    mask[1, -3:] = 0  # right padding in the second row
    return ids, mask


@pytest.mark.parametrize("family", RESUMABLE)
@pytest.mark.parametrize("layer", [0, 1, -1])
def test_stop_then_start_equals_the_full_pass(family, layer):
    model = tiny_model(family)
    ids, mask = _inputs()
    full = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
    hidden = hidden_entering(model, layer, input_ids=ids, attention_mask=mask)
    resumed = run_from(model, layer, hidden, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(resumed, full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", RESUMABLE)
@torch.no_grad()
def test_resume_after_a_cached_prefix_with_a_spliced_cache(family):
    # the engine's use: prefix cached, queries resumed at layer 1 against a cache spliced from two runs
    model = tiny_model(family)
    prefix = torch.randint(3, VOCAB, (1, 6), generator=torch.Generator().manual_seed(1))
    query = torch.randint(3, VOCAB, (1, 4), generator=torch.Generator().manual_seed(2))
    full = model.base_model(input_ids=torch.cat([prefix, query], 1)).last_hidden_state[:, -4:]
    cache = DynamicCache(config=model.config)
    model.base_model(input_ids=prefix, cache=cache, use_cache=True)
    upper = DynamicCache(config=model.config)
    positions = torch.arange(6)[None]
    run_from(
        model,
        1,
        hidden_entering(model, 1, input_ids=prefix, position_ids=positions),
        cache=upper,
        use_cache=True,
        position_ids=positions,
    )
    mixed = splice_cache(cache, upper, 1)
    mask = torch.ones(1, 10, dtype=torch.long)
    hidden = hidden_entering(model, 1, input_ids=query, attention_mask=mask, cache=copy.deepcopy(cache), use_cache=True)
    out = run_from(model, 1, hidden, attention_mask=mask, cache=mixed, use_cache=True).last_hidden_state
    torch.testing.assert_close(out, full, rtol=1e-5, atol=1e-5)


def test_families_that_cannot_resume_say_so():
    model = tiny_model("gpt2")
    ids, mask = _inputs()
    hidden = hidden_entering(model, 1, input_ids=ids, attention_mask=mask)
    with pytest.raises(ValueError, match="gpt2 family adds to the embeddings before its first layer"):
        run_from(model, 1, hidden, attention_mask=mask)
