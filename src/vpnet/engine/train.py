"""Training: the loop, DDP, AMP, gradient accumulation, checkpoints, exact resume, best checkpoint.

Run folder ``<output_dir>/<name>/`` (or ``run_dir``)::

    config.yaml            the resolved config (every key)
    train.log              the log
    steps.csv, epochs.csv  loss per logged step; loss and validation metrics per epoch
    tensorboard/           the same scalars for TensorBoard (when installed)
    checkpoints/step_*.safetensors   training state (model, optimiser, position; see checkpoint.py)
    best.safetensors       weights with the best primary metric on ``train.val_split`` (the split in
                           its ``selected_on`` metadata, metrics beside it); only with a validation split
    final.safetensors      weights at the end of training: what ``vpnet evaluate --run`` evaluates

**Batches.** Global batch G = ``data.batch_size`` x processes x ``train.grad_accum``; the sampler
(:class:`~vpnet.engine.distributed.TrainSampler`) gives every step the same G items whatever that
split is, so 1 process x 4 clips, 2 processes x 2 clips and 1 process x 2 clips x 2 accumulation steps
take the same optimiser steps (BatchNorm aside: use ``train.sync_bn`` across processes).

**Exact resume.** The model sees nothing random that is not a pure function of saved numbers: data
from (seed, epoch, index) (``dataset.set_epoch``), order from (seed, epoch), dropout from torch's RNG
reseeded every step from (seed, rank, step). A checkpoint records (epoch, step in epoch); resuming
skips the steps already done. With ``train.deterministic`` a run killed with SIGKILL and resumed ends
with bit-identical weights on the same machine (tests/engine/test_resume.py).

**Signals.** SIGTERM (schedulers, ``torchrun`` on shutdown) finishes the current step, writes a
checkpoint and returns; the next ``vpnet train`` of the same run folder resumes from it.
"""

from __future__ import annotations

import errno
import logging
import math
import signal
import time
from contextlib import contextmanager, nullcontext
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import torch
from torch import nn

from vpnet._io import RunLock, check_writable
from vpnet.config import Config
from vpnet.data.registry import training_data
from vpnet.engine.builders import build_model, build_split, check_dataset, make_loader, require_items
from vpnet.engine.checkpoint import (
    CheckpointError,
    CheckpointManager,
    LoadedTrainState,
    TrainState,
    load_train_state,
    save_weights,
)
from vpnet.engine.config_loader import config_to_yaml, save_config
from vpnet.engine.distributed import (
    DistContext,
    TrainSampler,
    all_reduce_sum,
    barrier,
    convert_sync_batchnorm,
    init_distributed,
    shutdown,
)
from vpnet.engine.forward import autocast, batch_size_of, describe_clips, model_inputs
from vpnet.engine.logs import RunLog, setup_logging
from vpnet.errors import ConfigError, TrainingError, VpnetError, is_worker_death

if TYPE_CHECKING:
    from vpnet.data import DatasetInfo

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_dir: Path
    state: TrainState
    #: weights at the end (None when stopped by SIGTERM before the end).
    final_weights: Path | None
    #: weights with the best validation metric (None without validation).
    best_weights: Path | None
    #: True when a SIGTERM stopped the run (a checkpoint was written; run again to resume).
    interrupted: bool = False
    #: the split the best weights were selected on (None without validation).
    selected_on: str | None = None


@dataclass(frozen=True)
class StepStats:
    """What optimiser steps add up to, on one process or summed over all of them.

    The loss terms are each micro-batch's mean times its number of clips, so that sums over
    micro-batches, steps and processes divided by ``clips`` are per-clip means. The last three
    count processes (summed over steps: process-steps), so that one all-reduce shares them too.
    """

    #: the total loss (eq. 5) x clips.
    loss: float = 0.0
    #: L_C, the classification cross-entropy, x clips.
    ce: float = 0.0
    #: L_e, the embedding loss, x clips.
    embed: float = 0.0
    #: L_a, the attention regulariser, x clips.
    attn: float = 0.0
    #: clips in the sums (items that failed to load are not counted).
    clips: float = 0.0
    #: processes whose loss was NaN or inf.
    nonfinite_loss: float = 0.0
    #: processes whose gradients were NaN or inf (the step is skipped).
    nonfinite_grads: float = 0.0
    #: processes asked to stop (SIGTERM).
    stop: float = 0.0

    def pack(self, device: torch.device | None = None) -> torch.Tensor:
        """The fields in declaration order, (8,) float64, for one all-reduce."""
        return torch.tensor(astuple(self), dtype=torch.float64, device=device)

    @classmethod
    def unpack(cls, t: torch.Tensor) -> StepStats:
        """Inverse of :meth:`pack`: ``t`` (8,) on any device."""
        values = t.tolist()
        if len(values) != len(fields(cls)):
            raise ValueError(f"StepStats.unpack expects ({len(fields(cls))},) values, got {tuple(t.shape)}")
        return cls(*values)

    def __add__(self, other: StepStats) -> StepStats:
        return StepStats(*(a + b for a, b in zip(astuple(self), astuple(other))))

    def per_clip(self) -> dict[str, float]:
        """The loss terms as means per clip (zeros when no clip was counted)."""
        n = max(self.clips, 1.0)
        return {"loss": self.loss / n, "ce": self.ce / n, "embed": self.embed / n, "attn": self.attn / n}


def resolve_grad_accum(cfg: Config, world_size: int) -> int:
    """Micro-batches per optimiser step so that batch_size x world_size x grad_accum = global_batch."""
    per_step = cfg.data.batch_size * world_size
    accum, rest = divmod(cfg.train.global_batch, per_step)
    explain = (
        f"train.global_batch={cfg.train.global_batch} must equal data.batch_size ({cfg.data.batch_size}) x "
        f"processes ({world_size}) x train.grad_accum"
    )
    if rest or accum < 1:
        raise ConfigError(f"{explain}, but {cfg.train.global_batch} is not a multiple of {per_step}; change "
                          f"data.batch_size or train.global_batch")
    if cfg.train.grad_accum is not None and cfg.train.grad_accum != accum:
        raise ConfigError(f"{explain} ({cfg.train.grad_accum}) = {per_step * cfg.train.grad_accum}; "
                          f"set train.grad_accum={accum} or leave it null (derived)")
    return accum


def validation_split(cfg: Config, info: DatasetInfo) -> str | None:
    """The split that selects the best checkpoint (see ``train.val_split``), or None.

    ``auto`` is the dataset's validation split, or none: NTU and N-UCLA have only train and test, and
    the paper trains for a fixed number of epochs and reports the final model. Selecting on the test
    split needs ``train.val_split=test`` and is marked (a warning here, ``selected_on`` in the best
    weights and in the results of ``vpnet evaluate``), since its accuracy is then an optimistic estimate.
    """
    want = cfg.train.val_split
    if want is None:
        return None
    if want == "auto":
        found = [name for name in ("val", "validation") if name in info.splits]
        if not found:
            log.info("dataset %s/%s has no validation split: no best checkpoint, evaluate the final weights",
                     cfg.data.dataset, cfg.data.protocol)
        return found[0] if found else None
    if want not in info.splits:
        raise ConfigError(f"train.val_split={want!r} is not a split of {cfg.data.dataset} ({', '.join(info.splits)})")
    if want == "test":
        log.warning("train.val_split=test: the best checkpoint is selected on the test split, so its test accuracy "
                    "is an optimistic estimate (best.safetensors records selected_on=test)")
    return want


def train(cfg: Config, *, run_dir: str | Path | None = None, resume: str | Path | None = "auto") -> TrainResult:
    """Train ``cfg``; see the module docstring for the run folder.

    Args:
        run_dir: the run folder (default ``<output_dir>/<name>``).
        resume: ``"auto"`` (continue from the newest valid checkpoint in the run folder, if any), a
            training-state file, or None (start fresh; refused when the run folder has checkpoints).

    Raises:
        ConfigError, CheckpointError, TrainingError, vpnet.data.types.DataError.
    """
    ctx = init_distributed(cfg.train.device)
    deterministic = (torch.are_deterministic_algorithms_enabled(),
                     torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        return _Trainer(cfg, ctx, Path(run_dir) if run_dir else Path(cfg.output_dir) / cfg.name, resume).run()
    finally:
        torch.use_deterministic_algorithms(deterministic[0], warn_only=deterministic[1])  # this run's setting only
        shutdown(ctx)


def step_seed(seed: int, rank: int, step: int) -> int:
    """The torch RNG seed of an optimiser step (dropout): a pure function, so nothing to checkpoint."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, dtype=np.uint64)[0] >> 1)


def set_train_mode(model: nn.Module, *, freeze_bn: bool) -> None:
    model.train()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


@contextmanager
def _sigterm_flag() -> Iterator[dict[str, bool]]:
    """{"stop": bool} set by SIGTERM while the block runs (handler restored after)."""
    flag = {"stop": False}

    def handler(signum: int, frame: Any) -> None:
        flag["stop"] = True
        log.warning("SIGTERM received: finishing this step, then writing a checkpoint")

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: no handler
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, old)


class _Trainer:
    def __init__(self, cfg: Config, ctx: DistContext, run_dir: Path, resume: str | Path | None):
        self.cfg, self.ctx, self.run_dir, self.resume = cfg, ctx, run_dir, resume
        self.device = ctx.device
        self.ckpts = CheckpointManager(run_dir / "checkpoints", keep=cfg.train.keep_checkpoints)
        self.lock = RunLock(run_dir)
        #: ``key: old -> new`` of the config resumed with, against the checkpoint's.
        self.resume_changes: list[str] = []
        self._last_batch: dict[str, Any] | None = None

    # --- setup ------------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        """:meth:`_run`, with a full disk or a dead data worker turned into a TrainingError that says what
        was kept and that rerunning resumes."""
        try:
            return self._run()
        except (OSError, RuntimeError) as e:
            step = self.state.global_step if hasattr(self, "state") else 0
            if isinstance(e, VpnetError) or (isinstance(e, RuntimeError) and not is_worker_death(e)) or (
                    isinstance(e, OSError) and e.errno not in _WRITE_ERRNOS):
                raise
            if isinstance(e, RuntimeError):
                raise TrainingError(f"a data-loading worker process died at global step {step} ({_first_line(e)}); "
                                    f"{self._kept()}. Run the same command again to resume; if the system killed it "
                                    "for memory, lower data.num_workers or data.batch_size") from None
            # a full disk (ENOSPC), a quota: config, best/final weights, logs, a CSV row
            where = e.filename2 or e.filename or "a run file"
            raise TrainingError(f"could not write {where} at global step {step}: {e.strerror or e}; "
                                f"{self._kept()}. Free space and run the same command again to resume") from None
        finally:
            self.lock.release()

    def _run(self) -> TrainResult:
        cfg, ctx = self.cfg, self.ctx
        # Everything that can be refused is checked before the run folder is made: where it goes, the
        # batch arithmetic, the data of every split the run reads.
        check_writable(self.run_dir, what="run folder")
        setup_logging(None, rank=ctx.rank)
        self.accum = resolve_grad_accum(cfg, ctx.world_size)
        self.info = check_dataset(cfg, ["train"])
        fresh = not self.ckpts.list()  # a resumed run has its weights already
        if cfg.train.init_from and fresh and not Path(cfg.train.init_from).is_file():
            raise ConfigError(f"train.init_from={cfg.train.init_from}: no such file. A two-stage preset starts from "
                              "another preset's run (its header names it): train that one first, with the same "
                              "output_dir, or set train.init_from=null to start from scratch")
        self.val_split = validation_split(cfg, self.info)
        self.train_ds = require_items(cfg, "train", build_split(cfg, "train", mode="train"))
        # validation: one centre clip per video, or the clips a feature cache holds
        self.val_ds = (require_items(cfg, self.val_split, build_split(cfg, self.val_split, mode="test", clips=None))
                       if self.val_split and cfg.train.val_every else None)
        if ctx.is_main:  # one live trainer per run folder: a second one would interleave every file
            self.lock.acquire()
            if self.lock.previous_owner:
                log.info("took over %s, left by process %s, which is no longer running", self.lock.path,
                         self.lock.previous_owner)
        setup_logging(self.run_dir, rank=ctx.rank)
        if cfg.train.deterministic:
            _set_deterministic(self.device)
        torch.manual_seed(cfg.train.seed)  # model initialisation: the same on every process

        loaded = self._find_resume()
        self._build_model(loaded)
        self._build_optimizer(loaded)
        self.state = loaded.state if loaded else TrainState()
        self.val_clips = self.val_ds.clips if cfg.data.feature_dir and self.val_ds is not None else (1, None)
        self.sampler = TrainSampler(
            len(self.train_ds),
            batch_size=cfg.data.batch_size,
            world_size=ctx.world_size,
            rank=ctx.rank,
            grad_accum=self.accum,
            seed=cfg.train.seed,
        )
        if self.sampler.steps_per_epoch == 0:
            raise ConfigError(
                f"the train split has {len(self.train_ds)} items, fewer than one global batch "
                f"(train.global_batch={cfg.train.global_batch}); lower train.global_batch"
            )
        self.loader = make_loader(
            self.train_ds, batch_size=cfg.data.batch_size, sampler=self.sampler,
            num_workers=cfg.data.num_workers, device=self.device,
        )
        if ctx.is_main:
            save_config(cfg, self.run_dir / "config.yaml")
        self.runlog = RunLog(
            self.run_dir, enabled=ctx.is_main, tensorboard=cfg.train.tensorboard,
            resume_step=self.state.global_step, resume_epoch=self.state.epoch,
        )
        log.info(
            "run %s: %s on %s (%d process%s), %d train items, %d steps/epoch of %d clips "
            "(%d per process x %d process%s x %d accumulation), %d epochs",
            self.run_dir, cfg.model.variant, self.device, ctx.world_size, "es" if ctx.distributed else "",
            len(self.train_ds), self.sampler.steps_per_epoch, cfg.train.global_batch, cfg.data.batch_size,
            ctx.world_size, "es" if ctx.distributed else "", self.accum, cfg.train.epochs,
        )
        try:
            return self._loop()
        finally:
            self.runlog.close()

    def _kept(self) -> str:
        """What a stopped run leaves to resume from, for its error message."""
        newest = self.ckpts.list() if self.ctx.is_main else []
        if newest:
            return f"the newest checkpoint, {newest[0]}, is intact and a rerun resumes from it"
        return f"no checkpoint was written yet (a rerun starts again from the beginning in {self.run_dir})"

    def _find_resume(self) -> LoadedTrainState | None:
        if self.resume is None:
            if self.ckpts.list():
                raise ConfigError(
                    f"run folder {self.run_dir} already has checkpoints; resume it (the default) or choose "
                    f"another run folder (name=... or output_dir=...)"
                )
            return None
        if self.ctx.is_main:
            for stale in self.ckpts.remove_partial_files():
                log.info("removed %s, left by a checkpoint write that did not finish", stale.name)
        barrier(self.ctx)
        if self.resume == "auto":
            loaded = self.ckpts.load_latest()
            if loaded is None and self.ckpts.list():
                raise CheckpointError(f"every checkpoint in {self.ckpts.directory} is corrupt; nothing to resume from")
        else:
            loaded = load_train_state(self.resume)
        if loaded is not None:
            self._check_resume_config(loaded)
            s = loaded.state
            log.info("resuming from %s: epoch %d, step %d of the epoch (global step %d)",
                     loaded.path, s.epoch + 1, s.step_in_epoch, s.global_step)
        return loaded

    def _check_resume_config(self, loaded: LoadedTrainState) -> None:
        from omegaconf import OmegaConf

        if not loaded.config_yaml:
            return
        old = OmegaConf.to_container(OmegaConf.create(loaded.config_yaml))
        new = OmegaConf.to_container(OmegaConf.create(config_to_yaml(self.cfg)))
        diffs = _diff(old, new)
        model_diffs = [d for d in diffs if d.startswith(RESUME_REFUSED)]
        if model_diffs:
            raise CheckpointError(
                f"{loaded.path} was written for another model or optimiser: " + "; ".join(model_diffs)
                + ". Resume with the run's config (its config.yaml) or start a new run folder."
            )
        self.resume_changes = diffs
        if any(d.startswith(("train.global_batch", "train.seed")) for d in diffs) and loaded.state.step_in_epoch:
            log.warning("resuming mid-epoch with a different global batch or seed: the rest of the epoch "
                        "will not match the interrupted run")
        if diffs:
            log.warning("resuming with config changes: %s", "; ".join(diffs))

    def _build_model(self, loaded: LoadedTrainState | None) -> None:
        cfg = self.cfg
        # on cached maps the backbone never runs, so it takes no optimiser steps; it is the cache's own,
        # so that the run's weights also work on video
        cache = self._cache_source() if cfg.data.feature_dir and cfg.model.variant != "pose_only" else None
        checkpoint, mode, source = None, "exact", None
        if loaded is not None:
            checkpoint, source = loaded.model, str(loaded.path)
        elif cfg.train.init_from:
            checkpoint, mode = cfg.train.init_from, cfg.train.init_mode
        elif cache and cache.get("checkpoint"):
            checkpoint, mode = cache["checkpoint"], "backbone"
        elif cache and cache.get("backbone_weights") != cfg.model.backbone_weights:
            log.warning("the cached maps come from backbone weights %r but model.backbone_weights=%r: the saved "
                        "weights will not reproduce the maps on video", cache.get("backbone_weights"),
                        cfg.model.backbone_weights)
        model = build_model(cfg, self.device, checkpoint=checkpoint, mode=mode, source=source)
        if cache is not None:
            model.backbone.requires_grad_(False)
        if cfg.train.sync_bn and self.ctx.distributed:
            model = convert_sync_batchnorm(model, self.device)
        self.model = model  # the bare module: checkpoints, validation
        net: nn.Module = model
        if self.ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
            )
        if cfg.train.compile:
            net = torch.compile(net)
        self.net = net

    def _cache_source(self) -> dict[str, Any]:
        """Where the feature cache's backbone came from (:func:`~vpnet.engine.features.cache_backbone`),
        checked against ``model.backbone``."""
        from vpnet.engine.feature_store import cache_backbone

        source = cache_backbone(self.cfg.data.feature_dir)
        if source.get("backbone") not in (None, self.cfg.model.backbone):
            raise ConfigError(f"data.feature_dir holds {source['backbone']} maps but model.backbone="
                              f"{self.cfg.model.backbone!r}")
        return source

    def _build_optimizer(self, loaded: LoadedTrainState | None) -> None:
        o = self.cfg.optim
        params = [p for p in self.model.parameters() if p.requires_grad]
        if o.optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
        else:
            self.optimizer = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
        # Both schedules step once per epoch.
        if o.schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=self.cfg.train.epochs)
        else:
            self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=o.lr_step, gamma=o.lr_gamma)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.cfg.train.amp == "fp16")
        if loaded is not None:
            try:
                self.optimizer.load_state_dict(loaded.optimizer)
            except (ValueError, KeyError) as e:
                raise CheckpointError(f"{loaded.path}: optimiser state does not fit ({e})") from None
            if loaded.scheduler is not None:
                self.scheduler.load_state_dict(loaded.scheduler)
            if loaded.scaler is not None and self.scaler.is_enabled():
                self.scaler.load_state_dict(loaded.scaler)
            if any(d.startswith(RESUME_SCHEDULE) for d in self.resume_changes):
                self._apply_schedule()

    def _apply_schedule(self) -> None:
        """A run resumed with a changed ``optim.lr``, ``weight_decay``, ``momentum``, ``lr_step``, ``lr_gamma``
        or ``train.epochs`` follows the new values from here on, as config.yaml and every weights file
        record them: the loaded optimiser and schedule are given the new values and the learning rate of the
        current epoch is the schedule's closed form with them (what a run started with them would use now)."""
        o, groups = self.cfg.optim, self.optimizer.param_groups
        for g in groups:
            g["initial_lr"], g["weight_decay"] = o.lr, o.weight_decay
            if "momentum" in g:
                g["momentum"] = o.momentum
        s = self.scheduler
        s.base_lrs = [o.lr] * len(groups)
        if isinstance(s, torch.optim.lr_scheduler.CosineAnnealingLR):
            s.T_max = self.cfg.train.epochs
        else:
            s.step_size, s.gamma = o.lr_step, o.lr_gamma
        for g, lr in zip(groups, s._get_closed_form_lr()):
            g["lr"] = lr
        s._last_lr = [g["lr"] for g in groups]
        log.info("resumed with a changed schedule: learning rate now %s (epoch %d of %d)",
                 ", ".join(f"{g['lr']:.3g}" for g in groups), s.last_epoch + 1, self.cfg.train.epochs)

    # --- the loop ---------------------------------------------------------------------------------

    def _loop(self) -> TrainResult:
        cfg, state = self.cfg, self.state
        best_path = self.run_dir / "best.safetensors"
        with _sigterm_flag() as flag:
            while state.epoch < cfg.train.epochs:
                interrupted = self._train_epoch(flag)
                if interrupted:
                    self._save_checkpoint()
                    log.warning("stopped by SIGTERM at global step %d; run the same command again to resume",
                                state.global_step)
                    return self._result(None, best_path, interrupted=True)
                self._end_epoch(best_path)
        final = self.run_dir / "final.safetensors"
        if self.ctx.is_main:
            save_weights(final, self.model, self._weights_meta())
        barrier(self.ctx)
        if state.skipped_steps:
            log.warning("%d optimiser steps were skipped for non-finite gradients", state.skipped_steps)
        log.info("done: %s%s", final,
                 f"; best {self.info.primary_metric} {state.best_metric:.4f} at epoch {state.best_epoch}"
                 if state.best_metric is not None else "")
        return self._result(final, best_path, interrupted=False)

    def _result(self, final: Path | None, best_path: Path, *, interrupted: bool) -> TrainResult:
        best = best_path if best_path.exists() else None
        return TrainResult(run_dir=self.run_dir, state=self.state, final_weights=final, best_weights=best,
                           interrupted=interrupted, selected_on=self.val_split if best else None)

    def _train_epoch(self, flag: dict[str, bool]) -> bool:
        """Steps of the current epoch from ``state.step_in_epoch``; True when stopped by SIGTERM."""
        from tqdm.contrib.logging import logging_redirect_tqdm

        from vpnet.progress import progress_bar

        cfg, ctx, state = self.cfg, self.ctx, self.state
        steps = self.sampler.steps_per_epoch
        set_train_mode(self.net, freeze_bn=cfg.train.freeze_bn)
        if hasattr(self.train_ds, "set_epoch"):
            self.train_ds.set_epoch(state.epoch)
        self.sampler.set_epoch(state.epoch)
        self.sampler.set_start_step(state.step_in_epoch)
        batches = iter(self.loader)
        g = cfg.train.global_batch
        bar = progress_bar(total=steps * g, initial=state.step_in_epoch * g, unit="clip",
                           desc=f"epoch {state.epoch + 1}/{cfg.train.epochs}", enabled=ctx.is_main)
        # log lines go above a terminal's bar instead of through it
        redirect = logging_redirect_tqdm([logging.getLogger("vpnet")]) if ctx.is_main else nullcontext()
        lr = self.optimizer.param_groups[0]["lr"]
        window = StepStats()  # since the last log line
        t_log = time.perf_counter()
        steps_logged = 0
        redirect.__enter__()
        try:
            for step in range(state.step_in_epoch, steps):
                stats = self._train_step(batches, flag)
                state.global_step += 1
                state.step_in_epoch = step + 1
                window += stats
                steps_logged += 1
                bar.update(g)
                means = window.per_clip()
                bar.set_postfix(loss=f"{means['loss']:.4f}", lr=f"{lr:.3g}", refresh=False)
                state.epoch_loss_sum += stats.loss
                state.epoch_items += stats.clips
                if state.global_step % cfg.train.log_every == 0 or step + 1 == steps:
                    dt = time.perf_counter() - t_log
                    row = {
                        "global_step": state.global_step, "epoch": state.epoch + 1, "step": step + 1, "lr": lr,
                        **means,
                        "clips_per_s": steps_logged * g / dt if dt > 0 else None, "skipped_steps": state.skipped_steps,
                    }
                    self.runlog.step(row)
                    log.info("epoch %d step %d/%d loss %.4f (ce %.4f embed %.4f attn %.4f) lr %.3g %.1f clips/s",
                             row["epoch"], step + 1, steps, row["loss"], row["ce"], row["embed"], row["attn"], lr,
                             row["clips_per_s"] or 0.0)
                    window, steps_logged, t_log = StepStats(), 0, time.perf_counter()
                if stats.stop:
                    return True
                every = cfg.train.ckpt_every_steps
                if every and state.global_step % every == 0 and step + 1 < steps:
                    self._save_checkpoint()
        finally:
            bar.close()
            redirect.__exit__(None, None, None)
        return False

    def _train_step(self, batches: Iterator[dict[str, Any]], flag: dict[str, bool]) -> StepStats:
        """One optimiser step over ``accum`` micro-batches; returns its statistics summed over processes
        (``stop``: SIGTERM on any process)."""
        from vpnet.models import vpn_loss

        cfg, ctx, state = self.cfg, self.ctx, self.state
        torch.manual_seed(step_seed(cfg.train.seed, ctx.rank, state.global_step))
        self.optimizer.zero_grad(set_to_none=True)
        # (total, ce, embed, attn) sums x clips: kept on the device, read once per step (no sync per micro-batch)
        loss_sums = torch.zeros(4, dtype=torch.float64, device=self.device)
        clips = 0
        for a in range(self.accum):
            batch = next(batches)
            n = batch_size_of(batch)
            weight = 1.0
            if n == 0:  # every item of this micro-batch failed (collate reported them)
                if not ctx.distributed:
                    continue  # nothing to add to the gradients
                if self._last_batch is None:
                    raise TrainingError(f"no item of the first micro-batch of process {ctx.rank} could be loaded "
                                        "(see the warnings above)")
                # the other processes wait for this one's gradients: send zeros through a real forward
                batch, weight = self._last_batch, 0.0
            self._last_batch = batch
            last = a == self.accum - 1
            sync = nullcontext() if (last or not ctx.distributed) else self.net.no_sync()
            with sync:
                with autocast(self.device, cfg.train.amp):
                    out = self.net(**model_inputs(batch, device=self.device, channels_last=cfg.train.channels_last))
                    labels = batch["label"].to(self.device)
                    terms = vpn_loss(out, labels, lambda1=cfg.loss.lambda1, lambda2=cfg.loss.lambda2)
                self.scaler.scale(terms.total.float() * (weight / self.accum)).backward()
            if weight:
                loss_sums += torch.stack([t.detach().double() for t in terms]) * n
                clips += n
        if self.scaler.is_enabled():
            self.scaler.unscale_(self.optimizer)
        grads_ok = _grads_finite(self.optimizer)
        loss, ce, embed, attn = loss_sums.tolist()
        local = StepStats(loss=loss, ce=ce, embed=embed, attn=attn, clips=float(clips),
                          nonfinite_loss=0.0 if all(map(math.isfinite, (loss, ce, embed, attn))) else 1.0,
                          nonfinite_grads=0.0 if grads_ok else 1.0, stop=float(flag["stop"]))
        totals = StepStats.unpack(all_reduce_sum(local.pack(ctx.device), ctx))
        if totals.nonfinite_loss:
            raise TrainingError(
                f"the loss is not finite (NaN or inf) at epoch {state.epoch + 1}, step {state.step_in_epoch + 1} "
                f"of the epoch (global step {state.global_step + 1}); {self._kept()}. "
                f"Lower optim.lr, use train.amp=none, or check the data of this step."
            )
        if totals.nonfinite_grads:
            state.skipped_steps += 1
            if not cfg.train.skip_nonfinite:
                raise TrainingError(
                    f"non-finite gradients at global step {state.global_step + 1} (train.skip_nonfinite is off)"
                )
            log.warning("non-finite gradients at global step %d: step skipped (%d so far)",
                        state.global_step + 1, state.skipped_steps)
            if self.scaler.is_enabled():
                self.scaler.update()  # lowers the fp16 loss scale
        else:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        return totals

    def _end_epoch(self, best_path: Path) -> None:
        cfg, ctx, state = self.cfg, self.ctx, self.state
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        row: dict[str, Any] = {
            "epoch": state.epoch + 1, "global_step": state.global_step, "lr": lr,
            "train_loss": state.epoch_loss_sum / max(state.epoch_items, 1),
        }
        state.epoch_loss_sum = state.epoch_items = 0.0
        last = state.epoch + 1 == cfg.train.epochs
        if self.val_ds is not None and ((state.epoch + 1) % cfg.train.val_every == 0 or last):
            m = self._validate()
            row.update({f"val_{k}": v for k, v in m.summary().items()})
            value = m.get(self.info.primary_metric)
            if state.best_metric is None or value > state.best_metric:
                state.best_metric, state.best_epoch = value, state.epoch + 1
                row["best"] = 1
                if ctx.is_main:
                    save_weights(best_path, self.model, self._weights_meta(metrics=m.summary()))
            log.info("epoch %d: train loss %.4f; %s (%s): top-1 %.2f %%, mean per-class %.2f %% "
                     "(best %s %.2f %% at epoch %d)",
                     state.epoch + 1, row["train_loss"], self.val_split, describe_clips(*self.val_clips), 100 * m.top1,
                     100 * m.mean_class, self.info.primary_metric, 100 * state.best_metric, state.best_epoch)
        else:
            log.info("epoch %d: train loss %.4f", state.epoch + 1, row["train_loss"])
        state.history.append({k: v for k, v in row.items() if k != "best"})
        self.runlog.epoch(row)
        state.epoch += 1
        state.step_in_epoch = 0
        every = cfg.train.ckpt_every_epochs
        if every and state.epoch % every == 0:
            self._save_checkpoint()

    def _validate(self):
        from vpnet.engine.evaluate import predict
        from vpnet.engine.metrics import classification_metrics

        cfg = self.cfg
        pred = predict(
            self.model, self.val_ds, ctx=self.ctx, batch_size=cfg.data.batch_size,
            num_workers=cfg.data.num_workers, amp=cfg.eval.amp, clip_batch=cfg.eval.clip_batch,
            channels_last=cfg.train.channels_last, desc=f"validate ({self.val_split})",
        )
        return classification_metrics(pred.scores, pred.labels, class_names=self.info.class_names)

    def _weights_meta(self, metrics: dict[str, float] | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "config": config_to_yaml(self.cfg), "epoch": self.state.epoch, "global_step": self.state.global_step,
            "class_names": self.info.class_names, "trained_on": training_data(self.cfg.data)[0],
        }
        if metrics:
            meta.update({"selected_on": self.val_split, "metrics": metrics, "primary_metric": self.info.primary_metric})
        return meta

    def _save_checkpoint(self) -> None:
        if not self.ctx.is_main:
            return
        try:
            path = self.ckpts.save(
                model=self.model, optimizer=self.optimizer, scheduler=self.scheduler, scaler=self.scaler,
                state=self.state, config_yaml=config_to_yaml(self.cfg), world_size=self.ctx.world_size,
            )
        except OSError as e:
            # ENOSPC and friends: the write went to a temp file, so the previous checkpoint is intact
            previous = self.ckpts.list()
            kept = f"the previous one ({previous[0].name}) is intact" if previous else "no earlier checkpoint exists"
            log.error("could not write a checkpoint at global step %d (%s); %s; training goes on",
                      self.state.global_step, e, kept)
            return
        log.debug("checkpoint %s", path)


#: errors of a write the run cannot get past: a full disk or quota, a file too large, a file system turned
#: read-only or a permission changed under a running job.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _grads_finite(optimizer: torch.optim.Optimizer) -> bool:
    """False if any gradient holds NaN or inf (a tensor's sum is then non-finite: one reduction each,
    no temporary mask; a finite gradient whose sum overflows would be reported too, and is no better)."""
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not grads:
        return True
    return bool(torch.isfinite(torch.stack([g.sum(dtype=torch.float32) for g in grads])).all())


def _set_deterministic(device: torch.device) -> None:
    import os

    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


#: config keys a run cannot be resumed with another value of (the weights or the optimiser state would not
#: fit): refused, naming each key that differs.
RESUME_REFUSED = ("model.", "optim.optimizer", "optim.schedule")
#: keys a resumed run applies from where it stopped (:meth:`_Trainer._apply_schedule`).
RESUME_SCHEDULE = ("optim.", "train.epochs")


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """``key: old -> new`` for every leaf that differs between two nested dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            out += _diff(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [f"{prefix[:-1]}: {old!r} -> {new!r}"]
