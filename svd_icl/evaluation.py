"""Few-shot evaluation of a causal LM, fast and exact, plus the naive reference it must agree with.

The authors' code re-encodes the whole demonstration prompt for every query and every clip rate, one query at a
time, with full-vocabulary logits.  Here:

(a) the demonstration prefix is encoded once per model state and its key/value cache is reused by every query;
    queries run in right-padded batches;
(b) in a sweep over the clip rates of one layer ``l``, the hidden states entering layer ``l`` are computed once
    (layers below ``l`` do not change), and each clip rate runs only layers ``l..L-1``, for the prefix and the
    queries (TransformerLens' ``start_at_layer`` pattern, on the raw Hugging Face modules);
(c) logits are formed only where scoring needs them: for single-token label words, the label rows of the output
    matrix at the last query position; otherwise full-vocabulary log-probabilities at the continuation positions;
(d) each matrix is decomposed once per sweep (:class:`svd_icl.pruning.Pruner`).

Scores: the log-likelihood of each candidate continuation (sum over its tokens; the mean for COPA, Table 1),
normalised over the candidates with a log-softmax. For single-token label words this is exactly the authors'
"log-softmax restricted to the label tokens". The prediction is the argmax; an exact tie is reported as a tie and
counted as wrong, never silently resolved in favour of the gold label.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm
from transformers import DynamicCache, PreTrainedModel

from svd_icl.architectures import architecture_for, check_layer
from svd_icl.prompts import EncodedPrompts
from svd_icl.pruning import Pruner
from svd_icl.resume import hidden_entering, run_from, splice_cache
from svd_icl.stats import macro_f1, majority_rate, predicted_shares


@dataclass
class EvalResult:
    """Per-query candidate scores (log-probabilities normalised over candidates) and the metrics."""

    scores: np.ndarray  # (n, C) float64
    labels: np.ndarray  # (n,)
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def ties(self) -> np.ndarray:
        top = self.scores.max(axis=1, keepdims=True)
        return (self.scores == top).sum(axis=1) > 1

    @property
    def predictions(self) -> np.ndarray:
        """Argmax candidate; -1 where the top score is tied (counted as wrong)."""
        pred = self.scores.argmax(axis=1)
        pred[self.ties] = -1
        return pred

    @property
    def accuracy(self) -> float:
        return float((self.predictions == self.labels).mean()) if len(self.labels) else float("nan")

    @property
    def macro_f1(self) -> float:
        """Macro-F1 over every candidate class (a tie is a prediction of no class)."""
        return macro_f1(self.labels, self.predictions, classes=list(range(self.scores.shape[1])))

    @property
    def majority_rate(self) -> float:
        """Accuracy of always answering the most frequent gold label of these queries (the honest 'chance')."""
        return majority_rate(self.labels)

    @property
    def predicted_shares(self) -> list[float]:
        """Share of queries answered with each candidate (a collapse onto one label shows as a share near 1)."""
        return predicted_shares(self.predictions, self.scores.shape[1])

    def metrics(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "ties": int(self.ties.sum()),
            "n_eval": len(self.labels),
            "majority_rate": self.majority_rate,
            "predicted_shares": self.predicted_shares,
        }

    def per_query(self) -> dict:
        """Gold labels, predictions and candidate scores (rounded to 1e-6), query by query: what a paired test
        between two settings needs, and what a precision check (:mod:`svd_icl.fidelity`) compares."""
        return {
            "labels": self.labels.tolist(),
            "predictions": self.predictions.tolist(),
            "scores": np.round(self.scores, 6).tolist(),
        }


def _normalise(raw: np.ndarray) -> np.ndarray:
    """Log-softmax over candidates (axis 1), in float64."""
    raw = raw.astype(np.float64)
    return raw - np.logaddexp.reduce(raw, axis=1, keepdims=True)


def _output_logits(model: PreTrainedModel, hidden: torch.Tensor, token_ids: torch.Tensor | None) -> torch.Tensor:
    """Logits of ``hidden`` (..., H) for ``token_ids`` only (or the whole vocabulary when None).

    Applies the output bias (GPT-J) and Gemma's final logit soft-capping where the model has them. With a half-
    precision model the few label rows are multiplied in float32 (the scores that decide a prediction then carry no
    extra rounding, and exact ties stay as rare as in float32); the full-vocabulary product stays in the model's
    dtype (it is the largest matmul of the scoring) and is upcast before the soft-capping and the log-softmax.
    """
    head = model.get_output_embeddings()
    if token_ids is None:
        logits = (hidden.to(head.weight.dtype) @ head.weight.T).float()
    else:
        logits = hidden.float() @ head.weight[token_ids].float().T
    bias = getattr(head, "bias", None)
    if bias is not None:
        logits = logits + (bias if token_ids is None else bias[token_ids]).float()
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


# ---------------------------------------------------------------------------------------------------------------
# The naive reference path: full prompt, batch size 1, full-vocabulary logits at every position.


@torch.no_grad()
def evaluate_naive(model: PreTrainedModel, prompts: EncodedPrompts, progress: bool = False) -> EvalResult:
    """What the authors' code does, kept as the ground truth the fast path is tested against."""
    device = next(model.parameters()).device
    start = time.perf_counter()
    raw = np.zeros((len(prompts), len(prompts.candidates[0])))
    for i in tqdm(range(len(prompts)), desc="naive", disable=not progress, mininterval=5):
        context = prompts.prefix + prompts.queries[i]
        for c, cand in enumerate(prompts.candidates[i]):
            ids = torch.tensor([context + cand], device=device)
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
            positions = torch.arange(len(context) - 1, len(context) - 1 + len(cand), device=device)
            ll = logprobs[positions, torch.tensor(cand, device=device)]
            raw[i, c] = float(ll.mean() if prompts.length_normalize else ll.sum())
    return EvalResult(_normalise(raw), prompts.labels, time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------------------------
# The fast path.


@dataclass
class _Batch:
    rows: list[tuple[int, int]]  # (query index, candidate index or -1 for "all single-token candidates")
    input_ids: torch.Tensor  # (B, T) right-padded
    mask: torch.Tensor  # (B, T) 1 for real tokens
    lengths: list[int]  # real length of each row
    cont_start: list[int]  # position of the first continuation token in each row (== length if none)


class FastEvaluator:
    """Evaluate one set of prompts many times (one model state after another) with shared work cached.

    ``evaluate()`` scores the model as it is now. ``sweep(pruner, layer, module, clip_rates)`` yields one result per
    clip rate and runs only layers ``layer..L-1`` per rate. Answers equal :func:`evaluate_naive`'s (tested to 1e-4).
    """

    def __init__(self, model: PreTrainedModel, prompts: EncodedPrompts, batch_size: int = 16, progress: bool = True):
        self.model = model
        self.prompts = prompts
        self.batch_size = batch_size
        self.progress = progress
        self.arch = architecture_for(model)
        self.device = next(model.parameters()).device
        self.single = prompts.shared_single_tokens
        self.batches = self._make_batches()

    # -- batching ---------------------------------------------------------------------------------------------
    def _make_batches(self) -> list[_Batch]:
        p = self.prompts
        if self.single is not None:
            rows = [((i, -1), p.queries[i]) for i in range(len(p))]
        else:  # one row per (query, candidate): query tokens followed by the candidate's tokens
            rows = [((i, c), p.queries[i] + cand) for i in range(len(p)) for c, cand in enumerate(p.candidates[i])]
        # Sort by length so that each batch pads little; results are put back in order by index.
        order = sorted(range(len(rows)), key=lambda k: len(rows[k][1]))
        pad = 0
        batches = []
        for s in range(0, len(order), self.batch_size):
            chunk = [rows[k] for k in order[s : s + self.batch_size]]
            width = max(len(ids) for _, ids in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for b, (_, toks) in enumerate(chunk):
                ids[b, : len(toks)] = torch.tensor(toks)
                mask[b, : len(toks)] = 1
            starts = [len(p.queries[i]) if c >= 0 else len(t) for (i, c), t in chunk]
            batches.append(
                _Batch(
                    [key for key, _ in chunk],
                    ids.to(self.device),
                    mask.to(self.device),
                    [len(t) for _, t in chunk],
                    starts,
                )
            )
        return batches

    # -- model plumbing: the layer-resume seam is svd_icl.resume ---------------------------------------------
    def _prefix_cache(self, start: int = 0, hidden: torch.Tensor | None = None) -> DynamicCache:
        """KV cache of the prefix; from layer ``start`` on when ``hidden`` (its input there) is given."""
        cache = DynamicCache(config=self.model.config)
        P = len(self.prompts.prefix)
        if P == 0:
            return cache
        positions = torch.arange(P, device=self.device)[None]
        if hidden is None:
            ids = torch.tensor([self.prompts.prefix], device=self.device)
            self.model.base_model(input_ids=ids, cache=cache, use_cache=True, position_ids=positions)
        else:
            run_from(self.model, start, hidden, cache=cache, use_cache=True, position_ids=positions)
        return cache

    def _prefix_input(self, layer: int) -> torch.Tensor:
        """Hidden states of the prefix entering ``layer`` (computed with the current weights)."""
        P = len(self.prompts.prefix)
        ids = torch.tensor([self.prompts.prefix], device=self.device)
        positions = torch.arange(P, device=self.device)[None]
        cache = DynamicCache(config=self.model.config)
        return hidden_entering(self.model, layer, input_ids=ids, cache=cache, use_cache=True, position_ids=positions)

    @staticmethod
    def _batch_cache(cache: DynamicCache, size: int, start: int = 0) -> DynamicCache:
        """The prefix cache for a batch of ``size`` rows, leaving ``cache`` untouched for the next batch.

        Each layer is a shallow copy: the model's cache update concatenates into new tensors and never writes in
        place, so the prefix's keys and values need no deep copy. They are repeated ``size`` times only from layer
        ``start`` on: a layer-resumed run never reads the layers below (their length alone sets the positions), and
        repeating them cost a deep-layer sweep more than its one layer's compute.
        """
        fresh = copy.copy(cache)
        fresh.layers = [copy.copy(layer) for layer in cache.layers]
        if size > 1 and cache.get_seq_length() > 0:
            for layer in fresh.layers[start:]:
                layer.batch_repeat_interleave(size)
        return fresh

    def _batch_kwargs(self, batch: _Batch, cache: DynamicCache, start: int = 0) -> dict:
        """What the base model needs for a batch after the prefix in ``cache``: mask over prefix + batch, cache
        (batched from layer ``start`` on)."""
        P = len(self.prompts.prefix)
        B = batch.input_ids.shape[0]
        full_mask = torch.cat([torch.ones(B, P, dtype=batch.mask.dtype, device=self.device), batch.mask], dim=1)
        return {"attention_mask": full_mask, "cache": self._batch_cache(cache, B, start), "use_cache": True}

    def _run_batch(self, batch: _Batch, cache: DynamicCache, start: int = 0, hidden: torch.Tensor | None = None):
        """Last hidden states (B, T, H) of the batch's rows after the prefix in ``cache``; from layer ``start`` on
        when ``hidden`` (the batch's input there) is given."""
        kwargs = self._batch_kwargs(batch, cache, start if hidden is not None else 0)
        if hidden is None:
            return self.model.base_model(input_ids=batch.input_ids, **kwargs).last_hidden_state
        return run_from(self.model, start, hidden, **kwargs).last_hidden_state

    # -- scoring ----------------------------------------------------------------------------------------------
    def _score(self, batch: _Batch, hidden: torch.Tensor, raw: np.ndarray) -> None:
        p = self.prompts
        if self.single is not None:
            last = hidden[torch.arange(len(batch.rows)), torch.tensor(batch.lengths) - 1]
            logits = _output_logits(self.model, last, torch.tensor(self.single, device=self.device))
            for b, (i, _) in enumerate(batch.rows):
                raw[i] = logits[b].double().cpu().numpy()
            return
        # Gather every continuation position of the batch into one (tokens, H) matrix, so the output matrix
        # (262k x 640 for Gemma) is read once per batch rather than once per row.
        rows, cols, targets, owner = [], [], [], []
        for b, (i, c) in enumerate(batch.rows):
            cand = p.candidates[i][c]
            s = batch.cont_start[b]
            rows += [b] * len(cand)
            cols += range(s - 1, s - 1 + len(cand))
            targets += cand
            owner += [b] * len(cand)
        logits = _output_logits(self.model, hidden[torch.tensor(rows), torch.tensor(cols)], None)
        ll = torch.log_softmax(logits, dim=-1)[torch.arange(len(targets)), torch.tensor(targets)].double().cpu()
        owner_t = torch.tensor(owner)
        for b, (i, c) in enumerate(batch.rows):
            mine = ll[owner_t == b]
            raw[i, c] = float(mine.mean() if p.length_normalize else mine.sum())

    def _raw(self) -> np.ndarray:
        return np.zeros((len(self.prompts), len(self.prompts.candidates[0])))

    # -- public API -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> EvalResult:
        """Score the model in its current state: prefix once, queries batched against its cache."""
        start = time.perf_counter()
        cache = self._prefix_cache()
        raw = self._raw()
        for batch in tqdm(self.batches, desc="evaluate", disable=not self.progress, mininterval=5, leave=False):
            self._score(batch, self._run_batch(batch, cache), raw)
        return EvalResult(_normalise(raw), self.prompts.labels, time.perf_counter() - start)

    @torch.no_grad()
    def sweep(
        self, pruner: Pruner, layer: int, module: str, clip_rates: list[float]
    ) -> Iterator[tuple[float, EvalResult]]:
        """Yield ``(clip_rate, result)`` for each rate with ``module`` of ``layer`` truncated; weights restored after.

        Layers below ``layer`` are unchanged by the truncation, so their work (prefix and queries up to the input of
        ``layer``) is done once; each rate then runs layers ``layer..L-1`` only.
        """
        layer = check_layer(self.model, layer, self.arch)
        if not self.arch.resumable:  # no layer resume possible: full (prefix-cached) evaluation per rate
            for xi in clip_rates:
                with pruner.truncated(layer, module, xi) as infos:
                    result = self.evaluate()
                result.extra["ranks"] = {i.matrix: i.rank for i in infos}
                yield xi, result
            return
        t0 = time.perf_counter()
        cache0 = self._prefix_cache()
        P = len(self.prompts.prefix)
        prefix_hidden = self._prefix_input(layer) if P else None
        query_hidden = [
            hidden_entering(self.model, layer, input_ids=b.input_ids, **self._batch_kwargs(b, cache0))
            for b in self.batches
        ]
        shared = time.perf_counter() - t0
        for xi in clip_rates:
            t1 = time.perf_counter()
            with pruner.truncated(layer, module, xi) as infos:
                # Layers below `layer` keep the unpruned prefix cache (they are skipped, but the cache's length
                # there sets the queries' positions and mask sizes); layers from `layer` on get the pruned one.
                mixed = splice_cache(cache0, self._prefix_cache(layer, prefix_hidden), layer) if P else cache0
                raw = self._raw()
                for batch, hidden in zip(self.batches, query_hidden):
                    self._score(batch, self._run_batch(batch, mixed, layer, hidden), raw)
            seconds = time.perf_counter() - t1 + shared / len(clip_rates)
            yield (
                xi,
                EvalResult(
                    _normalise(raw), self.prompts.labels, seconds, extra={"ranks": {i.matrix: i.rank for i in infos}}
                ),
            )
