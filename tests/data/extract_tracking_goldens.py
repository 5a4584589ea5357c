#!/usr/bin/env python3
"""Extracts the video-tracking goldens (stage e.) of the SAM 2 golden sets into tests/data.

Development-time only (the tests read the files it writes, never this script); plain Python 3,
no third-party modules. Usage:

    python3 tests/data/extract_tracking_goldens.py /path/to/golden tests/data

Per set (sam2_micro, sam2.1_micro) it writes into tests/data/<set>/:
  tracking.safetensors  every e.* tensor of io.safetensors (byte-exact), the 8-frame tracking run
  config.yaml           the official-format YAML config of the set, unchanged
The frames themselves are identical in both sets and live once in tests/data/sam2_micro/frames.
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from extract_checkpoint_goldens import read_safetensors, write_safetensors  # noqa: E402


def main(golden, out):
    for s in ["sam2_micro", "sam2.1_micro"]:
        header, data = read_safetensors(os.path.join(golden, s, "io.safetensors"))
        names = [k for k in header if k.startswith("e.")]
        write_safetensors(os.path.join(out, s, "tracking.safetensors"), header, data, names, None)
        shutil.copyfile(os.path.join(golden, s, "config.yaml"), os.path.join(out, s, "config.yaml"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
