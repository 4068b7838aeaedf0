"""``vpnet prepare``: decode, crop and store a dataset once, for fast training (vpnet.data.prepared)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from vpnet.cli._errors import EXIT_ITEMS_FAILED, load, user_errors
from vpnet.errors import ConfigError

OVERRIDES_HELP = ("Dotted overrides after the config, e.g. data.dataset=ntu60 data.video_dir=/data/nturgb+d_rgb "
                  "data.pose_dir=/data/nturgb+d_skeletons.")


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise typer.BadParameter(f"expected K/N (e.g. 0/4), got {text!r}") from None
    if not (n >= 1 and 0 <= k < n):
        raise typer.BadParameter(f"K/N needs 0 <= K < N (shards are numbered from 0), got {text!r}")
    return k, n


def _collect(cfg, store: Path, protocols: list[str] | None, splits: list[str] | None):
    """The records of every wanted protocol split (each saved in the store, with the protocol's class
    names), the dataset's pose reader, and (name, reason) of the items the scans left out that no
    split uses. A dataset whose poses prepare extracts (``folders`` without ``data.pose_dir``) gets its
    records' pose files in the store (:func:`vpnet.data.prepared.pose_path`).

    Raises:
        DataError: no item at all to prepare, saying why.
    """
    import dataclasses

    from vpnet.data import dataset_info, dataset_records, get_dataset
    from vpnet.data._readers import Records
    from vpnet.data.prepared import pose_path, write_classes, write_records
    from vpnet.data.types import DataError

    reader = get_dataset(cfg.dataset)
    missing = [f"data.{k}" for k, v in reader.paths(cfg).items() if not v and k not in reader.optional_paths]
    if missing:
        raise ConfigError(f"{cfg.dataset}: prepare reads the raw videos and poses; set {' and '.join(missing)}")
    raw = dataclasses.replace(cfg, prepared_dir=None)
    records, left_out = [], {}
    # every protocol of the dataset, so one store serves them all; a protocol the reader does not list
    # (a custom manifest's split column) alone
    for protocol in protocols or (reader.protocols if cfg.protocol in reader.protocols else [cfg.protocol]):
        pcfg = dataclasses.replace(raw, protocol=protocol)
        info = dataset_info(pcfg)
        if not info.splits:
            raise DataError(None, f"{cfg.dataset}: data.protocol={protocol} gives no split, so nothing would be "
                                  "prepared" + (" (custom data: data.protocol names the manifest's split column, "
                                                "e.g. data.protocol=split)" if cfg.dataset == "custom" else ""))
        write_classes(store, protocol, info.class_names, info.splits)
        for split in splits or info.splits:
            recs = dataset_records(pcfg, split)
            if reader.extracts_poses:  # items without a pose file get one in the store
                recs = Records([r if r.poses or not r.video else
                                dataclasses.replace(r, poses=str(pose_path(store, r.name))) for r in recs],
                               getattr(recs, "skipped", []))
            write_records(store, protocol, split, recs)
            records += recs
            left_out.update((s.name, s.reason) for s in getattr(recs, "skipped", []))
    used = {r.name for r in records}
    left_out = [(name, why) for name, why in left_out.items() if name not in used]
    if not records:
        why = "; ".join(f"{n}: {w}" for n, w in left_out[:3]) or "no split has an item"
        raise DataError(None, f"{cfg.dataset} (protocol {cfg.protocol}): nothing to prepare ({why})")
    return reader.read_poses, records, left_out


def _extract_poses(store: Path, records, shard: tuple[int, int], progress: bool) -> dict[str, str]:
    """MediaPipe poses of the records whose pose file belongs in the store and is not there yet (and
    whose item is not prepared yet), in this process; {name: reason} of the videos that failed."""
    from vpnet.data.prepared import item_path, shard_of
    from vpnet.poses import extract_many

    poses_dir = store / "poses"
    todo = {r.name: r for r in records
            if r.poses and Path(r.poses).parent == poses_dir and shard_of(r.name, shard[1]) == shard[0]
            and not Path(r.poses).is_file() and not item_path(store, r.name).is_file()}
    if not todo:
        return {}
    typer.echo(f"extracting poses of {len(todo)} videos with MediaPipe (no data.pose_dir) into {poses_dir}", err=True)
    failed = extract_many([(r.video, r.poses) for r in todo.values()], progress=progress, desc="poses")
    by_video = {r.video: name for name, r in todo.items()}
    return {by_video[v]: f"pose extraction: {why}" for v, why in failed.items()}


def prepare_command(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config or preset; its data section "
                                          "says which dataset and where its files are."),
    overrides: Optional[List[str]] = typer.Argument(None, help=OVERRIDES_HELP, show_default=False),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Store folder (default: data.prepared_dir)."),
    protocols: Optional[List[str]] = typer.Option(
        None, "--protocol", help="Protocol(s) whose splits to prepare (repeatable). Default: every protocol "
                                 "of the dataset (custom data: data.protocol), so one store serves them all."),
    splits: Optional[List[str]] = typer.Option(None, "--split", help="Split(s) to prepare (repeatable). "
                                               "Default: all of them."),
    shard: str = typer.Option("0/1", "--shard", help="K/N: prepare only shard K (0-based) of N, e.g. one per "
                              "machine writing to a shared folder. Items go to shards by a hash of their name."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Processes (default: all cores)."),
    size: int = typer.Option(256, "--size", help="Short side of the stored region, pixels (never enlarged)."),
    margin: float = typer.Option(0.2, "--margin", help="Context around all people of a video, per side, as a "
                                 "fraction of their box (clips crop tighter at load time, data.crop_margin)."),
    quality: int = typer.Option(90, "--quality", help="JPEG quality of the stored frames (1-100)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Prepare a dataset once for fast training: decode every video, crop the people, store small JPEGs + poses.

    Every protocol split is recorded too: then train with data.prepared_dir=OUT, no raw folders needed.

    Resumable: items already in the store are skipped; run the same command again after an interruption.

    Items that cannot be used are listed with the reason in OUT/report[.shard-K-of-N].jsonl.

    Exit code 1 when files of an item could not be used; 2 for a config or argument problem.

    Items the dataset scan left out (e.g. missing files) are reported but do not change the exit code.

    Example: vpnet prepare data.dataset=ntu60 data.video_dir=D/rgb data.pose_dir=D/skeletons -o D/ntu60 --shard 0/4
    """
    import logging

    k, n = _parse_shard(shard)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with user_errors():
        from vpnet._io import check_writable
        from vpnet.data.prepared import PrepareOptions, prepare

        cfg = load(config, overrides).data
        options = PrepareOptions(dataset=cfg.dataset, size=size, margin=margin, quality=quality)  # before the scan
        if workers is not None and workers < 0:
            raise ConfigError(f"--workers must be >= 0 (0: in this process), got {workers}")
        try:  # a store, dataset, protocol, split or folder not given or that does not exist
            store = out or (Path(cfg.prepared_dir) if cfg.prepared_dir else None)
            if store is None:
                raise ConfigError("no store folder: give --out DIR (or set data.prepared_dir)")
            check_writable(store, what="store folder")
            read_poses, records, left_out = _collect(cfg, store, protocols, splits)
        except ValueError as e:  # DataError included: a folder or split named by the config
            raise ConfigError(str(e)) from None
        failed = _extract_poses(store, records, (k, n), progress)
        summary = prepare(records, store, read_poses=read_poses,
                          options=options,
                          shard=(k, n), workers=workers, left_out=left_out, failed=failed, progress=progress)
    typer.echo(f"{cfg.dataset} shard {k}/{n}: {summary.total} items; prepared {summary.done}, already done "
               f"{summary.skipped}, failed {len(summary.failed)}; {len(summary.left_out)} left out by the scan; "
               f"{len(summary.notes)} notes\nstore: {store}")
    if summary.failed or summary.left_out or summary.notes:
        typer.echo(f"report: {summary.report}")
    if summary.failed:
        raise typer.Exit(EXIT_ITEMS_FAILED)
