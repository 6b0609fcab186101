"""Run every benchmark; each prints its ratio against its baseline and writes bench/results/."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import logs_index, logs_merge, metering_ingest, purge, startup, sweep, templates

if __name__ == "__main__":
    startup.main()
    sweep.main()
    logs_index.main([])
    logs_merge.main([])
    templates.main([])
    metering_ingest.main([])
    purge.main([])
