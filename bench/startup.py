"""CLI start-up: `stacktender --help` against `openstack --help`, measured in the same run.

Target (issue 3): stacktender takes at most 0.2x the time of the openstack client.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import summary, time_command, write_result

TARGET_RATIO = 0.2


def main(runs: int = 10) -> dict[str, object]:
    bindir = Path(sys.executable).parent
    ours = str(bindir / "stacktender")
    theirs = shutil.which("openstack", path=str(bindir)) or shutil.which("openstack")
    if theirs is None:
        raise SystemExit("openstack client not installed: pip install python-openstackclient")
    st = summary(time_command([ours, "--help"], runs))
    os_ = summary(time_command([theirs, "--help"], runs))
    ratio = st["median_s"] / os_["median_s"]
    print(
        f"startup: stacktender --help {st['median_s'] * 1000:.0f} ms, "
        f"openstack --help {os_['median_s'] * 1000:.0f} ms: ratio {ratio:.3f}x "
        f"(target <= {TARGET_RATIO}x) {'PASS' if ratio <= TARGET_RATIO else 'FAIL'}"
    )
    result = {
        "stacktender_help": st,
        "baseline_openstack_help": os_,
        "ratio": round(ratio, 4),
        "target_ratio_max": TARGET_RATIO,
        "pass": ratio <= TARGET_RATIO,
    }
    write_result("cli-startup", result)
    return result


if __name__ == "__main__":
    main()
