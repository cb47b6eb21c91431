"""Up/down timings of the lab (targets: all sessions Established < 15 s, down < 5 s).

`sudo python -m failover_harness.lab.benchmark [--cycles 3] [--no-ipsec] [--bfd]` prints one
line per cycle and checks nothing is left behind; it asserts no timing (load varies).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from failover_harness.lab import lab
from failover_harness.lab.topology import LabOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--no-ipsec", action="store_true")
    parser.add_argument("--bfd", action="store_true")
    parser.add_argument("--dual", action="store_true")
    parser.add_argument("--prefix", default=f"fhb{os.getpid() % 1000:03d}")
    args = parser.parse_args()
    options = LabOptions(ipsec=not args.no_ipsec, bfd=args.bfd, dual=args.dual)
    ups, downs = [], []
    for cycle in range(1, args.cycles + 1):
        start = time.monotonic()
        state = lab.up(args.prefix, options)
        ups.append(time.monotonic() - start)
        start = time.monotonic()
        lab.down(args.prefix)
        downs.append(time.monotonic() - start)
        left = lab.is_present(args.prefix)
        print(f"cycle {cycle}: up to all sessions Established {ups[-1]:.2f} s "
              f"(phases {state.options.get('up_phases')}), down {downs[-1]:.2f} s, "
              f"left behind: {'yes' if left else 'nothing'}")
    print(f"up median {statistics.median(ups):.2f} s max {max(ups):.2f} s (target < 15 s); "
          f"down median {statistics.median(downs):.2f} s max {max(downs):.2f} s (target < 5 s); "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
