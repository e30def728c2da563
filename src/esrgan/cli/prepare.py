"""`esrgan prepare`: HR folder → mod-cropped HR + MATLAB-bicubic LR pairs, optionally cut into sub-images.

    esrgan prepare HR_DIR -o OUT --scale 4                 # OUT/hr, OUT/lr_x4
    esrgan prepare HR_DIR -o OUT --scale 4 --subimages     # and OUT/hr_sub, OUT/lr_x4_sub (DIV2K-style crops)
    esrgan prepare HR_DIR -o OUT --subimages --lmdb        # and OUT/hr_sub.lmdb, OUT/lr_x4_sub.lmdb (BasicSR layout)
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from tqdm import tqdm

from esrgan.cli import SUMMARIES
from esrgan.data.datasets import list_images
from esrgan.data.lmdb_store import write_lmdb
from esrgan.data.prepare import extract_subimage_pairs, prepare_pairs
from esrgan.imaging.matlab_resize import ROUNDINGS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("prepare", help=SUMMARIES["prepare"], description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("hr", metavar="HR_DIR", help="folder of HR images")
    parser.add_argument("-o", "--output", required=True, help="output folder (hr/, lr_xS/ and the sub-image folders)")
    parser.add_argument("--scale", type=int, default=4, help="downscaling factor (default: 4)")
    parser.add_argument("--rounding", choices=ROUNDINGS, default="once",
                        help="once: float bicubic rounded once (the original ESRGAN release's LR); "
                             "per_pass: MATLAB's uint8 path, rounded after each 1-D pass (benchmark packs)")
    parser.add_argument("--subimages", action="store_true", help="also cut the pairs into aligned sub-images")
    parser.add_argument("--crop-size", type=int, default=480, help="HR sub-image size (default: 480)")
    parser.add_argument("--step", type=int, default=240, help="HR sub-image step (default: 240)")
    parser.add_argument("--thresh-size", type=int, default=0,
                        help="add an edge-flush crop when more than this many pixels are left over (default: 0)")
    parser.add_argument("--lmdb", action="store_true",
                        help="also pack the training pairs (the sub-images with --subimages) into LMDB databases")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    hr, lr = output / "hr", output / f"lr_x{args.scale}"
    count = prepare_pairs(Path(args.hr), hr, lr, args.scale, args.rounding, args.workers, args.overwrite,
                          not args.quiet)
    print(f"wrote {count} HR/LR pairs to {hr} and {lr}")
    if args.subimages:
        hr_sub, lr_sub = output / "hr_sub", output / f"lr_x{args.scale}_sub"
        pieces = extract_subimage_pairs(hr, lr, hr_sub, lr_sub, args.scale, args.crop_size, args.step,
                                        args.thresh_size, args.workers, args.overwrite, not args.quiet)
        print(f"wrote {pieces} sub-image pairs to {hr_sub} and {lr_sub}")
        hr, lr = hr_sub, lr_sub
    if args.lmdb:
        for folder in (hr, lr):
            database = folder.with_name(f"{folder.name}.lmdb")
            if args.overwrite:
                shutil.rmtree(database, ignore_errors=True)
            images = list_images(folder, "prepared")
            with tqdm(total=len(images), desc=database.name, unit="image", disable=args.quiet) as bar:
                count = write_lmdb(images, database, on_image=lambda _: bar.update())
            print(f"packed {count} images into {database}")
    return 0
