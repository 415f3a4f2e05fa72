"""`sparsevl vis-db index DIR`: check the shards in the subfolders of DIR as one store and write
DIR/manifest.json, so that `vis_db: DIR` reads them as one."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    index = actions.add_parser(
        "index", help="check the vis_db shards in DIR's subfolders and write DIR/manifest.json",
        description="Check the vis_db stores in the subfolders of DIR (same settings, no video in two "
                    "shards, every shard of I/N there) and write DIR/manifest.json; then give DIR as "
                    "the run config's vis_db.",
    )
    index.add_argument("dir", metavar="DIR", type=Path)


def run(args: argparse.Namespace) -> int:
    from sparsevl.data.sharded_store import MANIFEST, index_shards

    manifest = index_shards(args.dir)
    settings = manifest["settings"]
    sampling = f"fps {settings['fps']:g}" if settings["fps"] else f"{settings['num_frames']} frames per video"
    print(f"{args.dir / MANIFEST}: {len(manifest['shards'])} shards, {manifest['videos']:,} videos "
          f"({sampling}, max size {settings['max_size']}, JPEG quality {settings['quality']})")
    for shard in manifest["shards"]:
        print(f"  {shard['path']}: {shard['shard'] or 'no --shard'}, {shard['videos']:,} videos")
    return 0
